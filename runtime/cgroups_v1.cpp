// The cgroup v1 pids driver: root on a host without a usable cgroup v2 (cgroup v1 or hybrid).
//
// Why not RLIMIT_NPROC, as rootless: where a bind cannot be idmapped, the container's user
// is host root (see runtime::run), and the kernel never refuses a fork over RLIMIT_NPROC to a
// process whose real user is host root (copy_process() in kernel/fork.c:
// `p->real_cred->user != INIT_USER`), whatever the user namespace or the capabilities. The
// group binds both cases alike.
//
// So the container gets a group of its own in the pids hierarchy, below the one cage runs
// in: /sys/fs/cgroup/pids/<own>/cage/cage-PID, with pids.max. clone3(CLONE_INTO_CGROUP) takes
// only a cgroup2 directory, so pid 1 moves itself in, through the group's "tasks" file, before
// it forks anything of the container; what it forks is counted there. The cgroup namespace,
// made right after, shows the group as /. Since nothing needs the group before that, cage
// makes it after clone3 (made_late), while pid 1 builds the container's root, and passes
// the "tasks" file to pid 1 over the sync socket.
// The group is removed at exit, or by the janitor when cage is killed; the "cage" directory
// too, when no other container is in it and it has no limit of its own (one an administrator
// gave it to share among all containers keeps it).
//
// Only pids: a v1 memory group (memory.limit_in_bytes, memory.memsw.limit_in_bytes) would
// have the same shape, but v1 has no memory.oom.group: its OOM killer takes one process, not
// the container, and a half-killed agent carries on.
#include "runtime/cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "runtime/cgroups_dir.hpp"
#include "runtime/fd.hpp"

namespace cage::cgroups {
namespace {

constexpr const char* parent_name = "cage";
// Another cage may remove an empty "cage" directory between our mkdir and our use of it.
constexpr int attempts = 5;

// The group, then "cage" unless it has a pids.max of its own (rmdir fails while another
// container's group is in it; a cage making one there meanwhile makes "cage" again).
bool remove_all(int base, int parent, const std::string& name, std::optional<GroupId> only)
{
    bool removed = remove_group(parent, name, only);
    int saved = errno;
    if (read_at(parent, "pids.max") == "max\n")
        ::unlinkat(base, parent_name, AT_REMOVEDIR);
    errno = saved;
    return removed;
}

class PidsV1Manager final : public Manager {
public:
    PidsV1Manager(std::string base_path, std::uint64_t pids)
        : base_path_(std::move(base_path)), name_("cage-" + std::to_string(::getpid())),
          path_(base_path_ + "/" + parent_name + "/" + name_), pids_(pids)
    {
    }
    ~PidsV1Manager() override { (void)destroy(); }

    // Before clone3, without making anything: the hierarchy is there and writable (else
    // make_manager falls back to no cgroup, with a warning).
    Expected<void> open_base()
    {
        base_ = UniqueFd(::open(base_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct statvfs vfs{};
        bool usable = base_ && ::faccessat(base_.get(), ".", W_OK, AT_EACCESS) == 0 && ::fstatvfs(base_.get(), &vfs) == 0;
        if (usable && (vfs.f_flag & ST_RDONLY)) {
            usable = false;
            errno = EROFS;
        }
        if (!usable)
            return std::unexpected(errno_error("use the v1 pids cgroup cage runs in", base_path_));
        return {};
    }

    int clone_fd() const override { return -1; }
    int self_enter_fd() const override { return tasks_.get(); }
    bool made_late() const override { return true; }

    // After clone3 (made_late): the group, its janitor and its limit.
    Expected<void> make_late() override
    {
        // The janitor finds the group through the base: "cage" may be made again meanwhile.
        janitor_ = CAGE_TRY(Janitor::start({base_.get()}, [base = base_.get(), name = name_](auto group) {
            UniqueFd parent(::openat(base, parent_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (parent)
                remove_all(base, parent.get(), name, group);
        }));
        CAGE_TRY(make_parent_and_group());
        dir_ = UniqueFd(::openat(parent_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir_)
            return std::unexpected(errno_error("open the container's cgroup", path_));
        if (auto group = group_id(dir_.get()))
            janitor_.watch(*group);
        tasks_ = UniqueFd(::openat(dir_.get(), "tasks", O_WRONLY | O_CLOEXEC));
        if (!tasks_)
            return std::unexpected(errno_error("open the container's cgroup", path_ + "/tasks"));
        return set_limit(dir_.get(), path_, "pids.max", std::to_string(pids_));
    }

    Expected<void> enter(pid_t pid) override { return move_into(dir_.get(), path_, pid); }

    void kill_all() override
    {
        if (dir_)
            kill_in(dir_.get());
    }

    Usage usage() const override { return {}; }

    Expected<void> destroy() override
    {
        if (!janitor_)
            return {};  // nothing made, or already removed
        auto group = dir_ ? group_id(dir_.get()) : std::nullopt;
        dir_.reset();
        tasks_.reset();
        bool removed = !parent_ || remove_all(base_.get(), parent_.get(), name_, group);
        janitor_.done();
        if (!removed)
            return std::unexpected(errno_error("remove the container's cgroup", path_));
        return {};
    }

    std::uint64_t nproc_fallback() const override { return 0; }

private:
    Expected<void> make_parent_and_group()
    {
        for (int attempt = 0; attempt < attempts; ++attempt) {
            if (::mkdirat(base_.get(), parent_name, 0755) < 0 && errno != EEXIST)
                break;
            parent_ = UniqueFd(::openat(base_.get(), parent_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (parent_ && make_group(parent_.get(), name_))
                return {};
            if (errno != ENOENT)  // ENOENT: "cage" was removed under us; make it again
                break;
        }
        return std::unexpected(errno_error("create the container's cgroup", path_));
    }

    std::string base_path_;
    std::string name_;
    std::string path_;
    std::uint64_t pids_;
    UniqueFd base_;
    UniqueFd parent_;
    UniqueFd dir_;
    UniqueFd tasks_;
    Janitor janitor_;
};

}  // namespace

Expected<std::unique_ptr<Manager>> pids_v1_manager(const std::string& own_pids, const runtime::Limits& limits,
                                                   std::vector<std::string>& missing)
{
    for (const auto& controller : wanted_controllers(limits))
        if (controller != "pids")
            missing.push_back(controller);
    auto base = own_pids == "/" ? std::string(v1_pids_mount) : v1_pids_mount + own_pids;
    auto manager = std::make_unique<PidsV1Manager>(base, limits.pids.value_or(0));
    CAGE_TRY(manager->open_base());
    return manager;
}

}  // namespace cage::cgroups
