// Crash-safe file-system steps shared by the image store and the unpacker.
#pragma once

#include <cage/error.hpp>

#include <functional>
#include <string>
#include <string_view>

#include "runtime/fd.hpp"

namespace cage::image {

// Remove `name` under dirfd and everything below it (no symlink is followed). Directories
// made unwritable by an image are made writable first. A missing name is not an error.
Expected<void> remove_tree_at(int dirfd, const std::string& name);

// Write `content` to dir/name through a temporary name in the same directory, fsync, rename.
Expected<void> write_file_atomic(const std::string& dir, const std::string& name, std::string_view content);

// fsync a directory so the renames in it are durable.
Expected<void> sync_directory(const std::string& dir);

// The whole of a regular file no larger than `limit` (refused when larger); `path` is
// resolved inside dirfd as if it were the root, so an untrusted path cannot leave it.
Expected<std::string> read_bounded(int dirfd, const std::string& path, std::size_t limit);

// A fresh unique name: prefix + random hex.
std::string temporary_name(std::string_view prefix);

// Reads fd to its end in 64 KiB chunks, passing each to consume; stops at its first error.
Expected<void> for_each_chunk(int fd, const std::function<Expected<void>(const char* data, std::size_t size)>& consume);

// The disk usage (allocated blocks) of a file or a whole tree, without following links.
std::uint64_t tree_bytes(int dirfd, const std::string& name);

}  // namespace cage::image
