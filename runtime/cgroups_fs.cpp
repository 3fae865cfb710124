// The cgroupfs v2 driver: a cgroup "cage-PID" made by cage, limits written through its
// directory fd, processes placed by clone3(CLONE_INTO_CGROUP), removed at exit.
//
// A killed cage cannot remove its cgroup, so a janitor (a detached double-forked child,
// "cage-cgroup-gc") waits for the end of a pipe cage holds: when cage is gone, however it
// ended, the janitor kills what is left in the cgroup and removes it. After a normal exit
// cage has done that itself and the janitor finds nothing to do.
#include "runtime/cgroups.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "runtime/fd.hpp"
#include "runtime/sys.hpp"
#include "runtime/util.hpp"

namespace cage::cgroups {
namespace {

using namespace std::chrono_literals;

bool write_at(int dir, const char* file, const std::string& value)
{
    UniqueFd fd(::openat(dir, file, O_WRONLY | O_CLOEXEC));
    return fd && ::write(fd.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
}

std::optional<std::string> read_at(int dir, const char* file)
{
    UniqueFd fd(::openat(dir, file, O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    return read_small_file(fd.get());
}

// cgroup.kill (5.14+), else a SIGKILL to every listed process.
void kill_in(int dir)
{
    if (write_at(dir, "cgroup.kill", "1"))
        return;
    auto procs = read_at(dir, "cgroup.procs").value_or("");
    for (std::size_t start = 0; start < procs.size();) {
        auto end = procs.find('\n', start);
        auto pid = std::atoi(procs.substr(start, end - start).c_str());
        if (pid > 0)
            ::kill(pid, SIGKILL);
        start = end == std::string::npos ? procs.size() : end + 1;
    }
}

bool populated(int dir)
{
    return keyed_value(read_at(dir, "cgroup.events").value_or(""), "populated").value_or(0) != 0;
}

// Kill, wait until empty, rmdir (which can still be EBUSY for a moment after the last exit).
bool remove_cgroup(int parent, int dir, const std::string& name)
{
    kill_in(dir);
    auto give_up = std::chrono::steady_clock::now() + 10s;
    while (populated(dir) && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(5ms);
    while (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) < 0) {
        if (errno == ENOENT)
            return true;
        if (errno != EBUSY || std::chrono::steady_clock::now() >= give_up)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

[[noreturn]] void janitor_main(int pipe_fd, int parent, const std::string& name)
{
    ::setsid();
    ::prctl(PR_SET_NAME, "cage-cgroup-gc", 0, 0, 0);
    int low = std::min(pipe_fd, parent), high = std::max(pipe_fd, parent);
    sys::close_range(3, static_cast<unsigned>(low) - 1, 0);
    sys::close_range(static_cast<unsigned>(low) + 1, static_cast<unsigned>(high) - 1, 0);
    sys::close_range(static_cast<unsigned>(high) + 1, ~0U, 0);
    // Holding the caller's stdout would keep `$(cage run ...)` waiting.
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && null >= 0; ++fd)
        ::dup2(null, fd);
    char byte;
    while (::read(pipe_fd, &byte, 1) != 0 && errno == EINTR) {
    }
    UniqueFd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir)
        remove_cgroup(parent, dir.get(), name);
    ::_exit(0);
}

Expected<UniqueFd> start_janitor(int parent, const std::string& name)
{
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) < 0)
        return std::unexpected(errno_error("create the cgroup janitor's pipe"));
    UniqueFd read_end(ends[0]), write_end(ends[1]);
    pid_t child = ::fork();
    if (child < 0)
        return std::unexpected(errno_error("fork the cgroup janitor"));
    if (child == 0) {
        write_end.reset();
        if (::fork() == 0)
            janitor_main(read_end.get(), parent, name);
        ::_exit(0);
    }
    ::waitpid(child, nullptr, 0);
    return write_end;
}

class FsManager final : public Manager {
public:
    FsManager(UniqueFd parent, std::string parent_path, std::string name)
        : parent_(std::move(parent)), name_(std::move(name)), path_(parent_path + "/" + name_)
    {
    }
    ~FsManager() override { (void)destroy(); }

    Expected<void> create(const runtime::Limits& limits, const std::vector<std::string>& enabled)
    {
        if (::mkdirat(parent_.get(), name_.c_str(), 0755) < 0 && !(errno == EEXIST && reuse_stale()))
            return std::unexpected(errno_error("create the container's cgroup", path_));
        dir_ = UniqueFd(::openat(parent_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir_)
            return std::unexpected(errno_error("open the container's cgroup", path_));
        janitor_ = CAGE_TRY(start_janitor(parent_.get(), name_));
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

    Expected<void> enter(pid_t pid) override
    {
        if (!write_at(dir_.get(), "cgroup.procs", std::to_string(pid)))
            return std::unexpected(errno_error("move the container into its cgroup", path_ + "/cgroup.procs"));
        return {};
    }

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
        if (!dir_)
            return {};
        bool removed = remove_cgroup(parent_.get(), dir_.get(), name_);
        dir_.reset();
        janitor_.reset();  // the janitor wakes, finds no cgroup, and exits
        if (!removed)
            return std::unexpected(errno_error("remove the container's cgroup", path_));
        return {};
    }

    std::uint64_t nproc_fallback() const override { return pids_enforced_ ? 0 : pids_; }
    void set_pids(std::uint64_t pids) { pids_ = pids; }

private:
    // A cgroup of the same name left by a cage with this pid that died with its janitor:
    // ours by name, and empty, so it can go.
    bool reuse_stale()
    {
        UniqueFd old(::openat(parent_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        return old && !populated(old.get()) && ::unlinkat(parent_.get(), name_.c_str(), AT_REMOVEDIR) == 0 &&
               ::mkdirat(parent_.get(), name_.c_str(), 0755) == 0;
    }

    Expected<void> write_limit(const char* file, const std::string& value)
    {
        if (!write_at(dir_.get(), file, value))
            return std::unexpected(errno_error("set the cgroup limit " + value, path_ + "/" + file));
        return {};
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
    UniqueFd janitor_;
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
