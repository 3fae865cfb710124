// The container's minimal /dev: a tmpfs holding null, zero, full, random, urandom and tty
// (bind mounts of the host's nodes: mknod is not allowed in a user namespace), a private
// devpts instance with ptmx, a tmpfs /dev/shm and the usual symlinks.
#pragma once

#include <cage/error.hpp>

#include "runtime/fd.hpp"
#include "runtime/mounts.hpp"

namespace cage::devices {

Expected<void> mount_dev(int root_fd, const mounts::Options& owner);

// The host's /dev/null as a detached bind-mount source, checked to be the real 1:3 device.
Expected<UniqueFd> host_null();

}  // namespace cage::devices
