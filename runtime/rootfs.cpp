#include "runtime/rootfs.hpp"

#include <unistd.h>

#include "runtime/mounts.hpp"
#include "runtime/sys.hpp"

namespace cage::rootfs {
namespace {
constexpr int mnt_detach = 2;  // MNT_DETACH; <sys/mount.h> clashes with <linux/mount.h>
}  // namespace

Expected<void> pivot_into(int root_fd)
{
    if (::fchdir(root_fd) < 0)
        return std::unexpected(errno_error("enter the new root"));
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // detaches the old root without needing a directory to park it in.
    if (sys::pivot_root(".", ".") < 0)
        return std::unexpected(errno_error("pivot_root into the new root"));
    if (sys::umount2(".", mnt_detach) < 0)
        return std::unexpected(errno_error("detach the old root"));
    if (::chdir("/") < 0)
        return std::unexpected(errno_error("change directory to the new root"));
    return {};
}

Expected<void> make_root_read_only(int root_fd)
{
    auto result = mounts::set_attributes(root_fd, MOUNT_ATTR_RDONLY, false);
    if (!result)
        result.error().what = "make the root read-only";
    return result;
}

}  // namespace cage::rootfs
