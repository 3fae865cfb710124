#include "runtime/mounts.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "runtime/safe_path.hpp"
#include "runtime/sys.hpp"

namespace cage::mounts {
namespace {

constexpr std::uint64_t nosuid_nodev_noexec = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

std::string fd_path(int fd)
{
    return "/proc/self/fd/" + std::to_string(fd);
}

// The kernel explains fsconfig failures in the fs context's log; use it when it says more.
std::string context_log(int fs_fd)
{
    char buffer[512];
    std::string text;
    ssize_t got;
    while ((got = ::read(fs_fd, buffer, sizeof(buffer) - 1)) > 0) {
        buffer[got] = '\0';
        if (!text.empty())
            text += "; ";
        text += buffer + (got > 2 && buffer[1] == ' ' ? 2 : 0);  // drop the "e " prefix
    }
    return text;
}

Expected<void> configure(int fs_fd, const char* type, const std::string& key, const std::string& value)
{
    int rc = value.empty() ? sys::fsconfig(fs_fd, FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0)
                           : sys::fsconfig(fs_fd, FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0);
    if (rc < 0)
        return std::unexpected(errno_error(std::string("set ") + type + " option " + key, value));
    return {};
}

// Overlay layers: one "lowerdir+" per layer where the kernel has it (6.8+), so the number
// of layers is not bounded by the size of one option string; otherwise the joined string.
// Before 6.5 overlayfs takes options through the legacy adapter, which accepts any key at
// fsconfig time and refuses "lowerdir+" only at FSCONFIG_CMD_CREATE (EINVAL).
Expected<void> configure_lower_dirs(int fs_fd, const std::vector<UniqueFd>& lower_fds, bool& per_layer)
{
    std::string joined;
    for (const auto& lower : lower_fds) {
        auto path = fd_path(lower.get());
        if (per_layer &&
            sys::fsconfig(fs_fd, FSCONFIG_SET_STRING, "lowerdir+", path.c_str(), 0) < 0) {
            if (errno != EINVAL || !joined.empty())
                return std::unexpected(errno_error("set overlay option lowerdir+", path));
            per_layer = false;
        }
        joined += (joined.empty() ? "" : ":") + path;
    }
    if (!per_layer)
        return configure(fs_fd, "overlay", "lowerdir", joined);
    return {};
}

struct OverlayContext {
    UniqueFd fd;
    bool created = false;  // FSCONFIG_CMD_CREATE succeeded; else errno says why
};

Expected<OverlayContext> overlay_context(const std::vector<UniqueFd>& lower_fds, const std::string& upper,
                                         const std::string& work, bool& per_layer)
{
    OverlayContext context{UniqueFd(sys::fsopen("overlay", FSOPEN_CLOEXEC))};
    if (!context.fd)
        return std::unexpected(errno_error("create the overlay root"));
    CAGE_TRY(configure_lower_dirs(context.fd.get(), lower_fds, per_layer));
    CAGE_TRY(configure(context.fd.get(), "overlay", "upperdir", upper));
    CAGE_TRY(configure(context.fd.get(), "overlay", "workdir", work));
    // Inside a user namespace overlayfs keeps whiteouts in user.overlay.* xattrs.
    CAGE_TRY(configure(context.fd.get(), "overlay", "userxattr", ""));
    context.created = sys::fsconfig(context.fd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
    return context;
}

}  // namespace

Expected<UniqueFd> new_filesystem(const char* type, const Options& options, std::uint64_t attributes)
{
    UniqueFd fs(sys::fsopen(type, FSOPEN_CLOEXEC));
    if (!fs)
        return std::unexpected(errno_error(std::string("create a ") + type + " filesystem"));
    for (const auto& [key, value] : options)
        CAGE_TRY(configure(fs.get(), type, key, value));
    if (sys::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
        auto error = errno_error(std::string("create a ") + type + " filesystem");
        if (auto log = context_log(fs.get()); !log.empty())
            error.what += " (" + log + ")";
        return std::unexpected(error);
    }
    UniqueFd mount(sys::fsmount(fs.get(), FSMOUNT_CLOEXEC, static_cast<unsigned>(attributes)));
    if (!mount)
        return std::unexpected(errno_error(std::string("mount a ") + type + " filesystem"));
    return mount;
}

Expected<UniqueFd> clone_tree(int dirfd, const std::string& path, bool recursive)
{
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0u);
    if (path.empty())
        flags |= AT_EMPTY_PATH;
    UniqueFd tree(sys::open_tree(dirfd, path.c_str(), flags));
    if (!tree)
        return std::unexpected(errno_error("clone the mount tree", path));
    return tree;
}

Expected<void> set_attributes(int mount_fd, std::uint64_t attributes, bool recursive)
{
    mount_attr attr{};
    attr.attr_set = attributes;
    if (sys::mount_setattr(mount_fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0u), &attr) < 0)
        return std::unexpected(errno_error("set mount attributes"));
    return {};
}

Expected<void> attach(int mount_fd, int target_fd, const std::string& target_name)
{
    if (sys::move_mount(mount_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return std::unexpected(errno_error("mount", target_name));
    return {};
}

Expected<UniqueFd> idmapped_clone(const std::string& path, int userns_fd, bool recursive, std::uint64_t attributes)
{
    auto clone = CAGE_TRY(clone_tree(AT_FDCWD, path, recursive));
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP | attributes;
    attr.userns_fd = static_cast<std::uint64_t>(userns_fd);
    if (sys::mount_setattr(clone.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0u), &attr) < 0)
        return std::unexpected(errno_error("map the owners of a mount to the container's ids", path));
    return clone;
}

bool cannot_idmap(int errnum)
{
    return errnum == EINVAL || errnum == EPERM || errnum == ENOSYS || errnum == EOPNOTSUPP;
}

Expected<void> make_everything_private()
{
    mount_attr attr{};
    attr.propagation = MS_PRIVATE;
    if (sys::mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &attr) < 0)
        return std::unexpected(errno_error("make the mounts private", "/"));
    return {};
}

std::string work_dir_of(const std::string& upper_dir)
{
    auto slash = upper_dir.find_last_of('/');
    return (slash == std::string::npos ? std::string(".") : upper_dir.substr(0, slash)) + "/work";
}

Expected<UniqueFd> overlay_root(const runtime::Spec& spec, const std::vector<UniqueFd>& lower_fds,
                                const UpperDirectory& kept)
{
    UniqueFd upper_base;  // the directory holding upper/ and work/
    std::string upper, work;
    if (!kept.upper) {
        // Ephemeral writes live on a tmpfs of this mount namespace: nothing to clean up on the
        // host, whatever happens to cage.
        upper_base = CAGE_TRY(new_filesystem("tmpfs", {{"mode", "0755"}}, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
        if (::mkdirat(upper_base.get(), "upper", 0755) < 0 || ::mkdirat(upper_base.get(), "work", 0700) < 0)
            return std::unexpected(errno_error("create the overlay upper directory"));
        upper = fd_path(upper_base.get()) + "/upper";
        work = fd_path(upper_base.get()) + "/work";
    } else {
        upper = fd_path(kept.upper.get());
        work = fd_path(kept.work.get());
    }
    bool per_layer = true;
    auto fs = CAGE_TRY(overlay_context(lower_fds, upper, work, per_layer));
    if (!fs.created && errno == EINVAL && per_layer) {  // a pre-6.5 kernel: the legacy option string
        per_layer = false;
        fs = CAGE_TRY(overlay_context(lower_fds, upper, work, per_layer));
    }
    if (!fs.created && errno == EINVAL && upper_base) {
        // Older kernels clone the upper layer's mount only from the caller's own mount
        // namespace ("failed to clone upperpath"): attach the tmpfs, over the top layer, for
        // as long as the overlay takes to create; the overlay keeps its own clone of it.
        CAGE_TRY(attach(upper_base.get(), lower_fds.front().get(), "the overlay upper directory"));
        fs = CAGE_TRY(overlay_context(lower_fds, upper, work, per_layer));
        int saved = errno;
        sys::umount2(fd_path(upper_base.get()).c_str(), 2 /* MNT_DETACH */);
        errno = saved;
    }
    if (!fs.created) {
        auto error = errno_error("create the overlay root", spec.lower_dirs.empty() ? "" : spec.lower_dirs.front());
        if (auto log = context_log(fs.fd.get()); !log.empty())
            error.what += " (" + log + ")";
        return std::unexpected(error);
    }
    UniqueFd root(sys::fsmount(fs.fd.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    if (!root)
        return std::unexpected(errno_error("mount the overlay root"));
    return root;
}

Expected<UniqueFd> read_only_layer(int layer_fd)
{
    auto tree = CAGE_TRY(clone_tree(layer_fd, "", false));
    CAGE_TRY(set_attributes(tree.get(), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false));
    return tree;
}

Expected<void> mount_proc(int root_fd)
{
    auto target = CAGE_TRY(safe_path::make_directories(root_fd, "/proc", 0555));
    auto proc = CAGE_TRY(new_filesystem("proc", {}, nosuid_nodev_noexec));
    return attach(proc.get(), target.get(), "/proc");
}

Expected<void> mount_sys(int root_fd, runtime::Network network)
{
    auto target = CAGE_TRY(safe_path::make_directories(root_fd, "/sys", 0555));
    constexpr std::uint64_t attributes = MOUNT_ATTR_RDONLY | nosuid_nodev_noexec;
    // A new sysfs needs a network namespace of our own; with the host's network the host's
    // /sys is bound read-only instead.
    if (network != runtime::Network::host) {
        auto sys = CAGE_TRY(new_filesystem("sysfs", {}, attributes));
        return attach(sys.get(), target.get(), "/sys");
    }
    auto sys = CAGE_TRY(clone_tree(AT_FDCWD, "/sys", true));
    CAGE_TRY(set_attributes(sys.get(), attributes, true));
    return attach(sys.get(), target.get(), "/sys");
}

Expected<void> mount_tmp(int root_fd, const Options& owner)
{
    auto target = CAGE_TRY(safe_path::make_directories(root_fd, "/tmp", 01777));
    auto tmp = CAGE_TRY(new_filesystem("tmpfs", with({{"mode", "1777"}}, owner), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    return attach(tmp.get(), target.get(), "/tmp");
}

Options root_owned(bool root_is_mapped)
{
    if (!root_is_mapped)
        return {};
    return {{"uid", "0"}, {"gid", "0"}};
}

Options with(Options options, const Options& more)
{
    options.insert(options.end(), more.begin(), more.end());
    return options;
}

Expected<void> bind_into_root(int root_fd, int tree_fd, const runtime::Bind& bind)
{
    struct stat st{};
    if (::fstat(tree_fd, &st) < 0)
        return std::unexpected(errno_error("inspect the mount source", bind.source));
    auto target = S_ISDIR(st.st_mode) ? safe_path::make_directories(root_fd, bind.destination, 0755)
                                      : safe_path::make_file(root_fd, bind.destination, 0644);
    if (!target)
        return std::unexpected(target.error());
    std::uint64_t attributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (bind.read_only)
        attributes |= MOUNT_ATTR_RDONLY;
    CAGE_TRY(set_attributes(tree_fd, attributes, true));
    return attach(tree_fd, target->get(), bind.destination);
}

Expected<void> file_into_root(int root_fd, const std::string& destination, std::string_view content,
                              const Options& owner)
{
    auto filesystem = CAGE_TRY(new_filesystem("tmpfs", with({{"mode", "0755"}, {"nr_inodes", "2"}}, owner),
                                              nosuid_nodev_noexec));
    UniqueFd file(::openat(filesystem.get(), "file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!file)
        return std::unexpected(errno_error("create the file to mount", destination));
    if (::fchmod(file.get(), 0644) < 0 ||  // the umask is the caller's
        ::write(file.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        return std::unexpected(errno_error("write the file to mount", destination));
    // Only the file is mounted: the tmpfs's root directory is reachable from nowhere.
    auto tree = CAGE_TRY(clone_tree(filesystem.get(), "file", false));
    return bind_into_root(root_fd, tree.get(), runtime::Bind{"", destination, true});
}

}  // namespace cage::mounts
