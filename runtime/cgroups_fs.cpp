// The cgroupfs v2 driver: a cgroup "cage-PID" made by cage, limits written through its
// directory fd, processes placed by clone3(CLONE_INTO_CGROUP), removed at exit.
//
// A killed cage cannot remove its cgroup, so a janitor (a detached double-forked child,
// "cage-cgroup-gc", cgroups_dir.cpp), started before the cgroup is made, waits on a socket
// cage holds: when cage is gone, however it ended, the janitor kills what is left in the
// cgroup and removes it. After a normal exit cage has done that itself and tells the janitor,
// which then touches nothing.
#include "runtime/cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "runtime/cgroups_dir.hpp"
#include "runtime/fd.hpp"
#include "runtime/util.hpp"

namespace cage::cgroups {
namespace {

class FsManager final : public Manager {
public:
    FsManager(UniqueFd parent, std::string parent_path, std::string name)
        : parent_(std::move(parent)), name_(std::move(name)), path_(parent_path + "/" + name_)
    {
    }
    ~FsManager() override { (void)destroy(); }

    Expected<void> create(const runtime::Limits& limits, const std::vector<std::string>& enabled)
    {
        janitor_ = CAGE_TRY(Janitor::start({parent_.get()}, [parent = parent_.get(), name = name_](auto group) {
            remove_group(parent, name, group);
        }));
        if (!make_group(parent_.get(), name_))
            return std::unexpected(errno_error("create the container's cgroup", path_));
        dir_ = UniqueFd(::openat(parent_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir_)
            return std::unexpected(errno_error("open the container's cgroup", path_));
        if (auto group = group_id(dir_.get()))
            janitor_.watch(*group);
        auto on = [&](const char* controller) { return std::ranges::find(enabled, controller) != enabled.end(); };
        if (on("memory"))
            CAGE_TRY(write_memory(limits));
        if (on("pids")) {
            CAGE_TRY(write_limit("pids.max", limits.pids ? std::to_string(*limits.pids) : "max"));
            pids_enforced_ = true;
        }
        if (on("cpu"))
            CAGE_TRY(write_limit("cpu.max", format_cpu_max(limits.cpus)));
        if (on("io") && limits.io_weight)
            CAGE_TRY(write_io_weight(*limits.io_weight));
        return {};
    }

    int clone_fd() const override { return dir_.get(); }

    Expected<void> enter(pid_t pid) override { return move_into(dir_.get(), path_, pid); }

    void kill_all() override
    {
        if (dir_)
            kill_in(dir_.get());
    }

    Usage usage() const override
    {
        Usage usage;
        if (!dir_)
            return usage;
        if (auto peak = read_at(dir_.get(), "memory.peak"))
            usage.memory_peak = std::strtoull(peak->c_str(), nullptr, 10);
        usage.oom_kills = keyed_value(read_at(dir_.get(), "memory.events").value_or(""), "oom_kill").value_or(0);
        return usage;
    }

    Expected<void> destroy() override
    {
        if (!janitor_)
            return {};  // nothing made, or already removed
        auto group = dir_ ? group_id(dir_.get()) : std::nullopt;
        dir_.reset();
        bool removed = remove_group(parent_.get(), name_, group);
        janitor_.done();
        if (!removed)
            return std::unexpected(errno_error("remove the container's cgroup", path_));
        return {};
    }

    std::uint64_t nproc_fallback() const override { return pids_enforced_ ? 0 : pids_; }
    void set_pids(std::uint64_t pids) { pids_ = pids; }

private:
    Expected<void> write_limit(const char* file, const std::string& value)
    {
        return set_limit(dir_.get(), path_, file, value);
    }

    Expected<void> write_memory(const runtime::Limits& limits)
    {
        CAGE_TRY(write_limit("memory.max", limits.memory ? std::to_string(*limits.memory) : "max"));
        // One process over the limit takes the whole container with it: no half-killed agent.
        CAGE_TRY(write_limit("memory.oom.group", "1"));
        auto swap = limits.swap ? std::to_string(*limits.swap) : limits.memory ? "0" : "max";
        struct stat st{};
        if (::fstatat(dir_.get(), "memory.swap.max", &st, 0) < 0) {
            if (limits.swap && *limits.swap > 0)  // no swap accounting: no swap to limit either
                return std::unexpected(errno_error("limit swap (no memory.swap.max)", path_));
            return {};
        }
        return write_limit("memory.swap.max", swap);
    }

    Expected<void> write_io_weight(std::uint32_t weight)
    {
        if (write_at(dir_.get(), "io.weight", "default " + std::to_string(weight)))
            return {};
        return write_limit("io.bfq.weight", std::to_string(weight));
    }

    UniqueFd parent_;
    std::string name_;
    std::string path_;
    UniqueFd dir_;
    Janitor janitor_;
    bool pids_enforced_ = false;
    std::uint64_t pids_ = 0;
};

// own -> own/cage-supervisor for cage itself, then own's controllers enabled for its children.
Expected<void> split_own(const std::string& own, const std::vector<std::string>& wanted)
{
    auto dir = path_of(own);
    auto supervisor = dir + "/" + supervisor_name;
    if (::mkdir(supervisor.c_str(), 0755) < 0 && errno != EEXIST)
        return std::unexpected(errno_error("create cage's own cgroup", supervisor));
    UniqueFd sup(::open(supervisor.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sup || !write_at(sup.get(), "cgroup.procs", std::to_string(::getpid())))
        return std::unexpected(errno_error("move cage into its own cgroup", supervisor + "/cgroup.procs"));
    UniqueFd own_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto available = own_fd ? read_at(own_fd.get(), "cgroup.controllers").value_or("") : "";
    for (const auto& controller : wanted)
        if (lists_controller(available, controller) && !write_at(own_fd.get(), "cgroup.subtree_control", "+" + controller))
            return std::unexpected(errno_error("enable the " + controller + " controller", dir + "/cgroup.subtree_control"));
    return {};
}

std::string parent_cgroup(Placement placement, const std::string& own)
{
    switch (placement) {
    case Placement::top:
        return "/";
    case Placement::split:
        return own;
    case Placement::sibling:
    case Placement::nowhere:
        break;
    }
    return parent_of(own);
}

}  // namespace

Expected<std::unique_ptr<Manager>> fs_manager(Placement placement, const std::string& own,
                                              const runtime::Limits& limits,
                                              std::vector<std::string>& missing)
{
    auto wanted = wanted_controllers(limits);
    if (placement == Placement::split)
        CAGE_TRY(split_own(own, wanted));
    auto parent_path = path_of(parent_cgroup(placement, own));
    UniqueFd parent(::open(parent_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent)
        return std::unexpected(errno_error("open the parent cgroup", parent_path));
    auto subtree = read_at(parent.get(), "cgroup.subtree_control").value_or("");
    std::vector<std::string> enabled;
    for (const auto& controller : wanted)
        (lists_controller(subtree, controller) ? enabled : missing).push_back(controller);
    auto manager = std::make_unique<FsManager>(std::move(parent), parent_path, "cage-" + std::to_string(::getpid()));
    manager->set_pids(limits.pids.value_or(0));
    CAGE_TRY(manager->create(limits, enabled));
    return manager;
}

}  // namespace cage::cgroups
