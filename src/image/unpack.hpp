// Safe extraction of image layers (tar, gzip, zstd) into a directory, with overlay whiteouts.
//
// Every entry is created relative to a directory descriptor, one path component at a time
// with O_NOFOLLOW: names with "..", absolute names, entries below a symlink, and hard links
// to anything outside the layer are refused, so nothing lands outside the layer directory.
// Whiteouts become what overlayfs reads from a lower layer: ".wh.NAME" a 0:0 character
// device (which unprivileged users may create), ".wh..wh..opq" the user.overlay.opaque
// xattr on the directory (cage mounts its overlays with userxattr, as root and rootless).
#pragma once

#include <cage/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cage::image {

struct UnpackLimits {
    std::uint64_t max_bytes = 64ULL << 30;  // file contents of one layer
    std::uint64_t max_entries = 2'000'000;
    std::size_t max_path = 4096;  // bytes of one entry name or link target
};

struct UnpackOptions {
    UnpackLimits limits;
    bool keep_ownership = false;  // chown entries to their tar owner (real root only)
    bool make_devices = false;    // create device nodes (real root only); skipped otherwise
    bool whiteouts = true;        // translate .wh. entries (layers), or keep them (archives)
};

struct UnpackResult {
    std::string diff_id;  // sha256 of the uncompressed tar stream
    std::uint64_t bytes = 0;
    std::uint64_t entries = 0;
};

// The components of a tar entry name, or an error saying why it is refused: absolute
// names, "..", over-long names or components. "./a//b/" gives {"a", "b"}; "." gives {}.
Expected<std::vector<std::string>> entry_components(std::string_view name, const UnpackLimits& limits);

// Unpack the archive read from blob_fd (tar, plain or compressed) into the directory
// dest_fd, which should be empty and private to the caller.
Expected<UnpackResult> unpack_layer(int blob_fd, int dest_fd, const UnpackOptions& options);

// The unpack options for this process: ownership and devices only for real root.
UnpackOptions default_unpack_options();

}  // namespace cage::image
