#include "runtime/cgroups_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "runtime/cgroups.hpp"
#include "runtime/sys.hpp"
#include "runtime/util.hpp"

namespace cage::cgroups {
namespace {

using namespace std::chrono_literals;

UniqueFd open_group(int parent, const std::string& name)
{
    return UniqueFd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

// Everything from 3 up is closed but the descriptors in keep.
void close_all_but(std::vector<int> keep)
{
    std::ranges::sort(keep);
    unsigned next = 3;
    for (int fd : keep) {
        if (fd < 3)
            continue;
        if (static_cast<unsigned>(fd) > next)
            sys::close_range(next, static_cast<unsigned>(fd) - 1, 0);
        next = static_cast<unsigned>(fd) + 1;
    }
    sys::close_range(next, ~0U, 0);
}

// What cage tells its janitor, one message each.
struct JanitorMessage {
    char kind = 0;  // 'w': watch the group; 'd': done
    GroupId group;
};

[[noreturn]] void janitor_main(int socket_fd, const std::vector<int>& keep,
                               const std::function<void(std::optional<GroupId>)>& cleanup)
{
    ::setsid();
    ::prctl(PR_SET_NAME, "cage-cgroup-gc", 0, 0, 0);
    auto kept = keep;
    kept.push_back(socket_fd);
    close_all_but(kept);
    // Holding the caller's stdout would keep `$(cage run ...)` waiting.
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && null >= 0; ++fd)
        ::dup2(null, fd);
    std::optional<GroupId> group;
    JanitorMessage message;
    ssize_t got;
    while ((got = ::read(socket_fd, &message, sizeof(message))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got != sizeof(message) || message.kind == 'd')
            ::_exit(0);
        group = message.group;
    }
    cleanup(group);
    ::_exit(0);
}

}  // namespace

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

Expected<void> set_limit(int dir, const std::string& path, const char* file, const std::string& value)
{
    if (!write_at(dir, file, value))
        return std::unexpected(errno_error("set the cgroup limit " + value, path + "/" + file));
    return {};
}

Expected<void> move_into(int dir, const std::string& path, pid_t pid)
{
    if (!write_at(dir, "cgroup.procs", std::to_string(pid)))
        return std::unexpected(errno_error("move the container into its cgroup", path + "/cgroup.procs"));
    return {};
}

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
    if (auto events = read_at(dir, "cgroup.events"))
        return keyed_value(*events, "populated").value_or(0) != 0;
    return read_at(dir, "cgroup.procs").value_or("").find_first_not_of(" \n") != std::string::npos;
}

bool make_group(int parent, const std::string& name)
{
    if (::mkdirat(parent, name.c_str(), 0755) == 0)
        return true;
    if (errno != EEXIST)
        return false;
    UniqueFd old = open_group(parent, name);
    if (!old || populated(old.get())) {
        errno = EEXIST;
        return false;
    }
    return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0 && ::mkdirat(parent, name.c_str(), 0755) == 0;
}

std::optional<GroupId> group_id(int dir)
{
    struct stat st{};
    if (::fstat(dir, &st) < 0)
        return std::nullopt;
    return GroupId{st.st_dev, st.st_ino};
}

bool remove_group(int parent, const std::string& name, std::optional<GroupId> only)
{
    if (!only)
        return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT;
    UniqueFd dir = open_group(parent, name);
    if (!dir)
        return errno == ENOENT;
    auto found = group_id(dir.get());
    if (found && (found->device != only->device || found->inode != only->inode))
        return true;  // not ours: a later group of the same name
    auto give_up = std::chrono::steady_clock::now() + 10s;
    // Again and again: without cgroup.kill (v1), a process can fork between the read of
    // cgroup.procs and the kills, and its child is not in the list.
    while (populated(dir.get()) && std::chrono::steady_clock::now() < give_up) {
        kill_in(dir.get());
        std::this_thread::sleep_for(5ms);
    }
    while (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) < 0) {
        if (errno == ENOENT)
            return true;
        if (errno != EBUSY || std::chrono::steady_clock::now() >= give_up)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

Expected<Janitor> Janitor::start(std::vector<int> keep, std::function<void(std::optional<GroupId>)> cleanup)
{
    // A socket rather than a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE in a program
    // embedding libcage should the janitor be gone; SEQPACKET keeps each message whole.
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0)
        return std::unexpected(errno_error("create the cgroup janitor's socket"));
    UniqueFd read_end(ends[0]), write_end(ends[1]);
    pid_t child = ::fork();
    if (child < 0)
        return std::unexpected(errno_error("fork the cgroup janitor"));
    if (child == 0) {
        write_end.reset();
        if (::fork() == 0)
            janitor_main(read_end.get(), keep, cleanup);
        ::_exit(0);
    }
    ::waitpid(child, nullptr, 0);
    return Janitor(std::move(write_end));
}

void Janitor::watch(const GroupId& group)
{
    JanitorMessage message{'w', group};
    (void)!::send(socket_.get(), &message, sizeof(message), MSG_NOSIGNAL);
}

void Janitor::done()
{
    JanitorMessage message{'d', {}};
    (void)!::send(socket_.get(), &message, sizeof(message), MSG_NOSIGNAL);
    socket_.reset();
}

}  // namespace cage::cgroups
