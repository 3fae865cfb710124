// Resolve and create paths inside the container's root without ever leaving it.
//
// Every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks and ".."
// inside the root resolve as if the root were "/", so a hostile image cannot point a mount
// target at the host. Kernels without openat2 get a component-wise walk with the same rules.
#pragma once

#include <cage/error.hpp>

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "runtime/fd.hpp"

namespace cage::safe_path {

// The non-empty, non-"." components of a path, in order ("..", kept, is resolved by the walk).
std::vector<std::string> components(std::string_view path);

// Open `path` (absolute or relative to the root) inside the root. flags as for openat
// (O_PATH, O_DIRECTORY, ...); O_CLOEXEC is always added.
Expected<UniqueFd> open_in_root(int root_fd, std::string_view path, int flags);

// mkdir -p inside the root; returns an O_PATH descriptor of the final directory.
Expected<UniqueFd> make_directories(int root_fd, std::string_view path, mode_t mode);

// Create the parents and an empty regular file unless something exists there; returns an
// O_PATH descriptor of it. Used for file bind-mount targets.
Expected<UniqueFd> make_file(int root_fd, std::string_view path, mode_t mode);

// Tests force the fallback walk with this, as on a kernel without openat2.
void disable_openat2_for_testing(bool disabled);

}  // namespace cage::safe_path
