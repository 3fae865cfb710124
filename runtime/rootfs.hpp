// Entering the new root: pivot_root into it and detach the host's tree.
#pragma once

#include <cage/error.hpp>

namespace cage::rootfs {

// root_fd: the attached root mount. Afterwards "/" is that mount and the old root is gone
// from this mount namespace.
Expected<void> pivot_into(int root_fd);

// Make the root mount itself read-only (submounts keep their own flags).
Expected<void> make_root_read_only(int root_fd);

}  // namespace cage::rootfs
