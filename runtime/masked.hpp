// The /proc and /sys paths that runc masks (hidden behind /dev/null or an empty read-only
// tmpfs) or makes read-only, because they expose the host kernel.
#pragma once

#include <cage/error.hpp>

#include <span>
#include <string_view>

namespace cage::masked {

std::span<const std::string_view> masked_paths();
std::span<const std::string_view> read_only_paths();

// Apply both lists under the root (after /proc and /sys are mounted). Paths the kernel does
// not have are skipped.
Expected<void> apply(int root_fd);

}  // namespace cage::masked
