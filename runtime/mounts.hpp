// Mounts with the fd-based mount API: filesystems are created detached (fsopen/fsmount),
// trees are cloned detached (open_tree), and everything is attached by descriptor
// (move_mount), so no mount ever follows a path an untrusted root could have redirected.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/fd.hpp"

namespace cage::mounts {

using Options = std::vector<std::pair<std::string, std::string>>;  // key, value ("" = flag)

// A new detached filesystem with the MOUNT_ATTR_* attributes given.
Expected<UniqueFd> new_filesystem(const char* type, const Options& options, std::uint64_t attributes);

// A detached copy of the mount tree at dirfd/path (recursive: with its submounts).
Expected<UniqueFd> clone_tree(int dirfd, const std::string& path, bool recursive);

// Set MOUNT_ATTR_* on a mount (and its submounts when recursive).
Expected<void> set_attributes(int mount_fd, std::uint64_t attributes, bool recursive);

// Attach a detached mount on top of the object target_fd refers to. target_name is for errors.
Expected<void> attach(int mount_fd, int target_fd, const std::string& target_name);

// A detached clone of PATH (with its submounts when recursive) whose files show their owners
// through the maps of the user namespace USERNS_FD (an idmapped mount): owner N on disk shows
// as whatever that namespace maps its id N to. Only root can make one of a host filesystem
// (it takes CAP_SYS_ADMIN over the filesystem's user namespace). ATTRIBUTES: MOUNT_ATTR_*
// set with it. EINVAL: the filesystem or kernel cannot (see cannot_idmap).
Expected<UniqueFd> idmapped_clone(const std::string& path, int userns_fd, bool recursive, std::uint64_t attributes);

// The errors with which a kernel or filesystem without idmapped mounts refuses one.
bool cannot_idmap(int errnum);

// Stop mount events propagating between the host and this mount namespace.
Expected<void> make_everything_private();

// The overlay work directory that goes with a persistent upper directory: its sibling "work".
std::string work_dir_of(const std::string& upper_dir);

// The root when nothing may be written to it and every mount point already exists: the
// single layer, bound read-only. No overlay: its tmpfs upper and work-directory checks are
// the most expensive mount of a start.
Expected<UniqueFd> read_only_layer(int layer_fd);

// A kept upper directory and its work directory, opened (O_PATH) on the host.
struct UpperDirectory {
    UniqueFd upper;
    UniqueFd work;
};

// The overlay root: lower_dirs (top first, opened in this mount namespace) under the kept
// upper directory, or under a fresh tmpfs when there is none. Returns the detached mount.
Expected<UniqueFd> overlay_root(const runtime::Spec& spec, const std::vector<UniqueFd>& lower_fds,
                                const UpperDirectory& kept);

// proc, sys, /tmp under the new root (root_fd: its top directory).
Expected<void> mount_proc(int root_fd);
Expected<void> mount_sys(int root_fd, runtime::Network network);
Expected<void> mount_tmp(int root_fd, const Options& owner);

// tmpfs options that make a new tmpfs container root's, or none where the container has no
// root (a single-id map: uid 0 names no id there). Without them a tmpfs takes pid 1's ids,
// which are cage's own and so the container user's: /dev would be the agent's to add to.
Options root_owned(bool root_is_mapped);

// OPTIONS followed by MORE.
Options with(Options options, const Options& more);

// Bind a cloned tree (from clone_tree) at destination inside the root; a directory or a file
// target is created to match the source.
Expected<void> bind_into_root(int root_fd, int tree_fd, const runtime::Bind& bind);

// A read-only file holding CONTENT at destination inside the root (created when missing), on
// a detached tmpfs of its own that OWNER's options make container root's.
Expected<void> file_into_root(int root_fd, const std::string& destination, std::string_view content,
                              const Options& owner);

}  // namespace cage::mounts
