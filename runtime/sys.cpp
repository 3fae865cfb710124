#include "runtime/sys.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace cage::sys {

pid_t clone3(struct clone_args* args)
{
    return static_cast<pid_t>(::syscall(SYS_clone3, args, sizeof(*args)));
}

int openat2(int dirfd, const char* path, struct open_how* how)
{
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, how, sizeof(*how)));
}

int close_range(unsigned first, unsigned last, unsigned flags)
{
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

int pidfd_send_signal(int pidfd, int sig)
{
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int pivot_root(const char* new_root, const char* put_old)
{
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

int mount(const char* source, const char* target, const char* fstype, unsigned long flags,
          const void* data)
{
    return static_cast<int>(::syscall(SYS_mount, source, target, fstype, flags, data));
}

int umount2(const char* target, int flags)
{
    return static_cast<int>(::syscall(SYS_umount2, target, flags));
}

int open_tree(int dirfd, const char* path, unsigned flags)
{
    return static_cast<int>(::syscall(SYS_open_tree, dirfd, path, flags));
}

int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path,
               unsigned flags)
{
    return static_cast<int>(
        ::syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags));
}

int fsopen(const char* fstype, unsigned flags)
{
    return static_cast<int>(::syscall(SYS_fsopen, fstype, flags));
}

int fsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux)
{
    return static_cast<int>(::syscall(SYS_fsconfig, fd, cmd, key, value, aux));
}

int fsmount(int fd, unsigned flags, unsigned attr_flags)
{
    return static_cast<int>(::syscall(SYS_fsmount, fd, flags, attr_flags));
}

int mount_setattr(int dirfd, const char* path, unsigned flags, struct mount_attr* attr)
{
    return static_cast<int>(::syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr)));
}

}  // namespace cage::sys
