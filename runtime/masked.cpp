#include "runtime/masked.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <optional>
#include <string>

#include "runtime/devices.hpp"
#include "runtime/mounts.hpp"
#include "runtime/safe_path.hpp"
#include "runtime/sys.hpp"

namespace cage::masked {
namespace {

constexpr std::array<std::string_view, 12> masked{
    "/proc/acpi",        "/proc/asound",      "/proc/kcore",        "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",        "/sys/firmware",     "/sys/devices/virtual/powercap", "/proc/interrupts",
};

constexpr std::array<std::string_view, 5> read_only{
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

// nullopt when the path does not exist (nothing to hide).
Expected<std::optional<UniqueFd>> open_existing(int root_fd, std::string_view path)
{
    auto fd = safe_path::open_in_root(root_fd, path, O_PATH | O_NOFOLLOW);
    if (!fd && fd.error().errnum == ENOENT)
        return std::nullopt;
    if (!fd)
        return std::unexpected(fd.error());
    return std::optional<UniqueFd>(std::move(*fd));
}

// Covers masked paths. Directories get one empty read-only tmpfs: a new one for the first,
// clones of it for the rest (a clone costs much less than a new superblock each), taken from
// where the first is attached: kernels before 6.5 refuse to clone a mount that is not
// attached in the caller's namespace (EINVAL). Files get a fresh, checked clone of the host's
// /dev/null each, for the same reason.
class Masker {
public:
    explicit Masker(int root_fd) : root_fd_(root_fd) {}

    Expected<void> mask(std::string_view path)
    {
        auto target = CAGE_TRY(open_existing(root_fd_, path));
        if (!target)
            return {};
        struct stat st{};
        if (::fstat(target->get(), &st) < 0)
            return std::unexpected(errno_error("inspect a masked path", std::string(path)));
        if (!S_ISDIR(st.st_mode)) {
            auto null_copy = CAGE_TRY(devices::host_null());
            return mounts::attach(null_copy.get(), target->get(), std::string(path));
        }
        if (empty_dir_) {
            auto cover = CAGE_TRY(mounts::clone_tree(empty_dir_.get(), "", false));
            return mounts::attach(cover.get(), target->get(), std::string(path));
        }
        auto empty = CAGE_TRY(mounts::new_filesystem(
            "tmpfs", {{"size", "0"}}, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
        CAGE_TRY(mounts::attach(empty.get(), target->get(), std::string(path)));
        empty_dir_ = CAGE_TRY(safe_path::open_in_root(root_fd_, path, O_PATH | O_DIRECTORY));
        return {};
    }

private:
    int root_fd_;
    UniqueFd empty_dir_;  // the root of the first empty tmpfs, where it is attached
};

Expected<void> make_read_only(int root_fd, std::string_view path)
{
    auto target = CAGE_TRY(open_existing(root_fd, path));
    if (!target)
        return {};
    auto tree = CAGE_TRY(mounts::clone_tree(target->get(), "", true));
    CAGE_TRY(mounts::set_attributes(tree.get(), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true));
    return mounts::attach(tree.get(), target->get(), std::string(path));
}

}  // namespace

std::span<const std::string_view> masked_paths()
{
    return masked;
}

std::span<const std::string_view> read_only_paths()
{
    return read_only;
}

Expected<void> apply(int root_fd)
{
    Masker masker(root_fd);
    for (auto path : masked)
        CAGE_TRY(masker.mask(path));
    for (auto path : read_only)
        CAGE_TRY(make_read_only(root_fd, path));
    return {};
}

}  // namespace cage::masked
