#include "runtime/devices.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>

#include "runtime/mounts.hpp"
#include "runtime/safe_path.hpp"
#include "runtime/sys.hpp"

namespace cage::devices {
namespace {

struct Node {
    const char* name;
    unsigned major;
    unsigned minor;
};

constexpr std::array<Node, 6> nodes{{
    {"null", 1, 3},
    {"zero", 1, 5},
    {"full", 1, 7},
    {"random", 1, 8},
    {"urandom", 1, 9},
    {"tty", 5, 0},
}};

constexpr std::array<std::pair<const char*, const char*>, 5> links{{
    {"ptmx", "pts/ptmx"},
    {"fd", "/proc/self/fd"},
    {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"},
}};

// Never bind whatever happens to sit at a host path: it must be the expected character device.
Expected<UniqueFd> host_node(const Node& node)
{
    std::string path = std::string("/dev/") + node.name;
    auto tree = CAGE_TRY(mounts::clone_tree(AT_FDCWD, path, false));
    struct stat st{};
    if (::fstat(tree.get(), &st) < 0)
        return std::unexpected(errno_error("inspect the host device", path));
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != node.major || minor(st.st_rdev) != node.minor)
        return std::unexpected(plain_error("the host device is not the expected character device", path));
    // The node is the host's own inode. Read-only, the mount refuses chmod, chown and utimes
    // (EROFS) from whoever owns it in the container, while reads and writes of the device
    // itself are unaffected.
    CAGE_TRY(mounts::set_attributes(tree.get(), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false));
    return tree;
}

Expected<void> bind_node(int dev_fd, const Node& node)
{
    std::string name = node.name;
    UniqueFd created(::openat(dev_fd, node.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (!created)
        return std::unexpected(errno_error("create the device mount point", "/dev/" + name));
    UniqueFd target(::openat(dev_fd, node.name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!target)
        return std::unexpected(errno_error("open the device mount point", "/dev/" + name));
    auto source = CAGE_TRY(host_node(node));
    return mounts::attach(source.get(), target.get(), "/dev/" + name);
}

Expected<void> mount_at(int dev_fd, const char* name, mode_t mode, int mount_fd)
{
    std::string path = std::string("/dev/") + name;
    if (::mkdirat(dev_fd, name, mode) < 0)
        return std::unexpected(errno_error("create a directory", path));
    UniqueFd target(::openat(dev_fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    if (!target)
        return std::unexpected(errno_error("open the mount point", path));
    return mounts::attach(mount_fd, target.get(), path);
}

}  // namespace

Expected<UniqueFd> host_null()
{
    return host_node(nodes[0]);
}

Expected<void> mount_dev(int root_fd, const mounts::Options& owner)
{
    auto target = CAGE_TRY(safe_path::make_directories(root_fd, "/dev", 0755));
    // Populate the tmpfs while it is still detached: nothing in the container can see it yet.
    auto dev = CAGE_TRY(mounts::new_filesystem("tmpfs", mounts::with({{"mode", "0755"}, {"size", "65536k"}}, owner),
                                               MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
    CAGE_TRY(mounts::attach(dev.get(), target.get(), "/dev"));
    // dev now refers to the root of the attached tmpfs.
    for (const auto& node : nodes)
        CAGE_TRY(bind_node(dev.get(), node));
    for (const auto& [name, destination] : links)
        if (::symlinkat(destination, dev.get(), name) < 0)
            return std::unexpected(errno_error("create a symlink", std::string("/dev/") + name));

    auto pts = CAGE_TRY(mounts::new_filesystem(
        "devpts", {{"newinstance", ""}, {"ptmxmode", "0666"}, {"mode", "0620"}},
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
    CAGE_TRY(mount_at(dev.get(), "pts", 0755, pts.get()));
    auto shm = CAGE_TRY(mounts::new_filesystem("tmpfs", mounts::with({{"mode", "1777"}, {"size", "65536k"}}, owner),
                                               MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    CAGE_TRY(mount_at(dev.get(), "shm", 01777, shm.get()));
    auto mqueue = mounts::new_filesystem("mqueue", {}, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mqueue)
        CAGE_TRY(mount_at(dev.get(), "mqueue", 0755, mqueue->get()));
    return {};
}

}  // namespace cage::devices
