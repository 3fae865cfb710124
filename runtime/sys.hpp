// Thin wrappers for the system calls glibc 2.36 lacks or declares in conflicting headers
// (the fd-based mount API, clone3, openat2, close_range, pidfds, pivot_root).
// They return what the kernel returns and leave errno set; nothing else happens here.
#pragma once

#include <linux/mount.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/types.h>

#include <cstddef>

namespace cage::sys {

pid_t clone3(struct clone_args* args);
int openat2(int dirfd, const char* path, struct open_how* how);
int close_range(unsigned first, unsigned last, unsigned flags);
int pidfd_send_signal(int pidfd, int sig);
int pivot_root(const char* new_root, const char* put_old);

int mount(const char* source, const char* target, const char* fstype, unsigned long flags,
          const void* data);
int umount2(const char* target, int flags);
int open_tree(int dirfd, const char* path, unsigned flags);
int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path,
               unsigned flags);
int fsopen(const char* fstype, unsigned flags);
int fsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux);
int fsmount(int fd, unsigned flags, unsigned attr_flags);
int mount_setattr(int dirfd, const char* path, unsigned flags, struct mount_attr* attr);

}  // namespace cage::sys
