// CVE-2019-5736: a container process that can open /proc/<cage pid>/exe for writing could
// overwrite the cage binary on the host. cage runs from a sealed memfd copy of itself, so
// that file is an immutable anonymous copy, never the binary on disk.
//
// The copy costs a second exec at every start, so it is skipped where there is nothing to
// protect: rootless, from a binary owned by root and writable by nobody else. No id of a
// rootless container is host root (the invoking user maps to the container user, the others
// to subordinate ids), so no process in it can write that file whatever it reaches.
//
// As root, cage re-executes through a read-only bind of itself instead of a copy: its
// /proc/self/exe then resolves through a read-only mount, and a write through it fails with
// EROFS. Nothing in a container can make a host mount writable (that takes CAP_SYS_ADMIN in
// the host's user namespace), and no megabytes are copied at each start. A binary that
// already sits on a read-only mount needs nothing at all.
#include <cage/cage.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "runtime/fd.hpp"
#include "runtime/sys.hpp"

extern char** environ;

namespace cage {
namespace {

constexpr int all_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

UniqueFd create_memfd()
{
    // MFD_EXEC (6.3+) says outright that this memfd is meant to be executed.
    int fd = ::memfd_create("cage", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = ::memfd_create("cage", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return UniqueFd(fd);
}

bool has_acl(int fd)
{
    return ::fgetxattr(fd, "system.posix_acl_access", nullptr, 0) >= 0;
}

// True when no process of a container started by this user could write the binary.
bool unwritable_from_containers(int fd, const struct stat& st)
{
    return ::getuid() != 0 && st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 && !has_acl(fd);
}

// Where the running binary is, for the re-executed one (its /proc/self/exe shows the copy).
void remember_path()
{
    char path[PATH_MAX];
    ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (length > 0 && path[0] == '/') {
        path[length] = '\0';
        ::setenv(sealed_from_variable, path, 1);
    }
}

bool on_read_only_mount(int fd)
{
    struct statvfs vfs{};
    return ::fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
}

// Only returns when the re-exec could not be made (then the memfd copy is the way).
void reexec_through_read_only_bind(int self, char** argv)
{
    UniqueFd bind(sys::open_tree(self, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
    if (!bind)
        return;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (sys::mount_setattr(bind.get(), "", AT_EMPTY_PATH, &attr) < 0)
        return;
    ::syscall(SYS_execveat, bind.get(), "", argv, environ, AT_EMPTY_PATH);
}

}  // namespace

Expected<void> seal_executable(int /*argc*/, char** argv)
{
    UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!self)
        return std::unexpected(errno_error("open the cage executable", "/proc/self/exe"));
    int seals = ::fcntl(self.get(), F_GET_SEALS);
    if (seals >= 0 && (seals & all_seals) == all_seals)
        return {};  // already running from the sealed copy

    struct stat st{};
    if (::fstat(self.get(), &st) < 0)
        return std::unexpected(errno_error("inspect the cage executable", "/proc/self/exe"));
    if (unwritable_from_containers(self.get(), st) || on_read_only_mount(self.get()))
        return {};
    remember_path();
    if (::getuid() == 0)
        reexec_through_read_only_bind(self.get(), argv);
    UniqueFd copy = create_memfd();
    if (!copy)
        return std::unexpected(errno_error("create a sealed copy of cage"));
    off_t offset = 0;
    while (offset < st.st_size) {
        ssize_t sent = ::sendfile(copy.get(), self.get(), &offset, static_cast<std::size_t>(st.st_size - offset));
        if (sent <= 0)
            return std::unexpected(errno_error("copy the cage executable"));
    }
    if (::fcntl(copy.get(), F_ADD_SEALS, all_seals) < 0)
        return std::unexpected(errno_error("seal the copy of cage"));
    ::fexecve(copy.get(), argv, environ);
    return std::unexpected(errno_error("re-execute cage from its sealed copy"));
}

}  // namespace cage
