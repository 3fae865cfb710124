#include "runtime/idmap.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "runtime/fd.hpp"
#include "runtime/util.hpp"

extern char** environ;

namespace cage::idmap {
namespace {

// Root has no entry in /etc/subuid on most hosts: its containers then use this range, far
// above the ids that useradd hands out (subuid ranges start at 100000).
constexpr SubordinateRange root_default_range{1'000'000'000, 65536};

bool parse_u32(std::string_view text, std::uint32_t& out)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

std::string user_name_of(uid_t uid)
{
    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found)
        return found->pw_name;
    return {};
}

std::optional<SubordinateRange> range_from_file(const char* path, std::string_view name, std::uint32_t id)
{
    auto content = read_small_file(path);
    if (!content)
        return std::nullopt;
    return find_subordinate_range(*content, name, id);
}

SubordinateRange root_range(const char* file)
{
    return range_from_file(file, "root", 0).value_or(root_default_range);
}

// Real root's maps with the container user as host root, the other ids in root's ranges.
Plan host_root_plan(std::uint32_t container_uid, std::uint32_t container_gid, SubordinateRange uid_range,
                    SubordinateRange gid_range)
{
    Plan result;
    result.method = Method::direct;
    result.uid_map = build_map(container_uid, ::getuid(), uid_range);
    result.gid_map = build_map(container_gid, ::getgid(), gid_range);
    return result;
}

Expected<void> write_proc_file(pid_t pid, const char* file, const std::string& text)
{
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return std::unexpected(errno_error("write the user namespace map", path));
    return {};
}

// Run one helper with its stderr captured, so a failure can be shown on one line.
struct HelperRun {
    pid_t pid = -1;
    UniqueFd stderr_pipe;
};

Expected<HelperRun> start_helper(const std::string& program, const std::vector<std::string>& args)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
        return std::unexpected(errno_error("create a pipe for " + program));
    HelperRun run;
    run.stderr_pipe.reset(pipe_fds[0]);
    UniqueFd write_end(pipe_fds[1]);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    // fork, not posix_spawn: posix_spawn returns only once the child's exec is under way, and
    // a setuid exec takes long enough that the second helper would start a millisecond late.
    run.pid = ::fork();
    if (run.pid < 0)
        return std::unexpected(errno_error("run " + program));
    if (run.pid == 0) {
        ::dup2(write_end.get(), STDERR_FILENO);
        ::dup2(write_end.get(), STDOUT_FILENO);
        ::execve(program.c_str(), argv.data(), environ);
        std::string reason = std::string("cannot execute it: ") + std::strerror(errno) + "\n";
        (void)!::write(STDERR_FILENO, reason.data(), reason.size());
        ::_exit(127);
    }
    return run;
}

Expected<void> finish_helper(HelperRun& run, const std::string& program, const std::string& hint)
{
    std::string output;
    char chunk[512];
    ssize_t got;
    while ((got = ::read(run.stderr_pipe.get(), chunk, sizeof(chunk))) > 0 && output.size() < 4096)
        output.append(chunk, static_cast<std::size_t>(got));
    int status = 0;
    while (::waitpid(run.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    auto first_line = output.substr(0, output.find('\n'));
    if (first_line.empty())
        first_line = "exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return std::unexpected(plain_error(program + " failed: " + first_line, {}, hint));
}

}  // namespace

std::optional<SubordinateRange> find_subordinate_range(std::string_view content,
                                                        std::string_view user_name,
                                                        std::uint32_t user_id)
{
    auto id_text = std::to_string(user_id);
    while (!content.empty()) {
        auto end = content.find('\n');
        auto line = content.substr(0, end);
        content = end == std::string_view::npos ? std::string_view{} : content.substr(end + 1);

        auto first = line.find(':');
        auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos)
            continue;
        auto owner = line.substr(0, first);
        if (owner != id_text && (user_name.empty() || owner != user_name))
            continue;
        SubordinateRange range;
        if (!parse_u32(line.substr(first + 1, second - first - 1), range.start) ||
            !parse_u32(line.substr(second + 1), range.count) || range.count == 0)
            continue;
        if (range.start > std::numeric_limits<std::uint32_t>::max() - range.count)
            continue;
        return range;
    }
    return std::nullopt;
}

std::vector<Range> build_map(std::uint32_t container_id, std::uint32_t host_id,
                             std::optional<SubordinateRange> range)
{
    std::vector<Range> map;
    if (!range)
        return {{container_id, host_id, 1}};
    std::uint32_t below = std::min(container_id, range->count);
    if (below > 0)
        map.push_back({0, range->start, below});
    map.push_back({container_id, host_id, 1});
    std::uint32_t above = range->count - below;
    // Never wrap past 2^32-1 inside (4294967295 itself is not a valid id).
    std::uint32_t room = std::numeric_limits<std::uint32_t>::max() - 1 - container_id;
    above = std::min(above, room);
    if (above > 0)
        map.push_back({container_id + 1, range->start + below, above});
    return map;
}

std::string format_map(const std::vector<Range>& map)
{
    std::string text;
    for (const auto& range : map)
        text += std::to_string(range.inside) + " " + std::to_string(range.outside) + " " +
                std::to_string(range.count) + "\n";
    return text;
}

std::vector<std::string> helper_arguments(pid_t pid, const std::vector<Range>& map)
{
    std::vector<std::string> args{std::to_string(pid)};
    for (const auto& range : map) {
        args.push_back(std::to_string(range.inside));
        args.push_back(std::to_string(range.outside));
        args.push_back(std::to_string(range.count));
    }
    return args;
}

Expected<Plan> plan(std::uint32_t container_uid, std::uint32_t container_gid,
                    const std::function<void(const std::string&)>& warn)
{
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    Plan result;
    if (uid == 0) {
        auto uid_range = root_range("/etc/subuid");
        auto gid_range = root_range("/etc/subgid");
        // The layers must be idmapped too, which overlay takes from Linux 5.19.
        bool fits = container_uid < uid_range.count && container_gid < gid_range.count &&
                    uid_range.start > 0 && gid_range.start > 0;
        if (!fits || !kernel_at_least("5.19"))
            return host_root_plan(container_uid, container_gid, uid_range, gid_range);
        result.method = Method::direct;
        result.uid_map = {{0, uid_range.start, uid_range.count}};
        result.gid_map = {{0, gid_range.start, gid_range.count}};
        result.bind_uid_map = bind_map(container_uid, uid_range);
        result.bind_gid_map = bind_map(container_gid, gid_range);
        return result;
    }
    auto name = user_name_of(uid);
    auto uid_range = range_from_file("/etc/subuid", name, uid);
    auto gid_range = range_from_file("/etc/subgid", name, uid);
    if (uid_range && gid_range) {
        result.newuidmap = find_in_path("newuidmap");
        result.newgidmap = find_in_path("newgidmap");
        if (!result.newuidmap.empty() && !result.newgidmap.empty()) {
            result.method = Method::helper;
            result.uid_map = build_map(container_uid, uid, uid_range);
            result.gid_map = build_map(container_gid, gid, gid_range);
            return result;
        }
        if (warn)
            warn("newuidmap/newgidmap not found: mapping only uid " + std::to_string(container_uid) +
                 " and gid " + std::to_string(container_gid) +
                 " (install the uidmap package to map the subordinate ranges)");
    }
    result.method = Method::single;
    result.uid_map = build_map(container_uid, uid, std::nullopt);
    result.gid_map = build_map(container_gid, gid, std::nullopt);
    return result;
}

std::vector<Range> bind_map(std::uint32_t container_id, SubordinateRange range)
{
    std::uint32_t shown_as = range.start + container_id;
    std::vector<Range> map{{0, shown_as, 1}};
    if (container_id > 0)
        map.push_back({range.start, range.start, container_id});
    if (container_id + 1 < range.count)
        map.push_back({shown_as + 1, shown_as + 1, range.count - container_id - 1});
    return map;
}

Plan map_host_root(std::uint32_t container_uid, std::uint32_t container_gid)
{
    return host_root_plan(container_uid, container_gid, root_range("/etc/subuid"), root_range("/etc/subgid"));
}

Expected<UniqueFd> user_namespace_with(const std::vector<Range>& uid_map, const std::vector<Range>& gid_map)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
        return std::unexpected(errno_error("create a pipe"));
    UniqueFd wait_end(pipe_fds[0]);
    UniqueFd release_end(pipe_fds[1]);
    // The holder shares our memory (no page tables to copy) and waits for the release end to
    // close: when this returns, or when cage dies.
    std::vector<char> stack(16384);
    auto hold = [](void* pipe) -> int {
        auto* ends = static_cast<int*>(pipe);
        ::close(ends[1]);  // its own copy: ours alone keeps the pipe open
        char byte;
        return static_cast<int>(::read(ends[0], &byte, 1));
    };
    int ends[2] = {wait_end.get(), release_end.get()};
    pid_t holder = ::clone(hold, stack.data() + stack.size(), CLONE_NEWUSER | CLONE_VM | SIGCHLD, ends);
    if (holder < 0)
        return std::unexpected(errno_error("create a user namespace for idmapped mounts (clone)"));
    auto made = [&]() -> Expected<UniqueFd> {
        CAGE_TRY(write_proc_file(holder, "gid_map", format_map(gid_map)));
        CAGE_TRY(write_proc_file(holder, "uid_map", format_map(uid_map)));
        std::string path = "/proc/" + std::to_string(holder) + "/ns/user";
        UniqueFd userns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns)
            return std::unexpected(errno_error("open a user namespace", path));
        return userns;
    }();
    release_end.reset();
    while (::waitpid(holder, nullptr, 0) < 0 && errno == EINTR) {
    }
    return made;
}

Expected<void> apply(const Plan& plan, pid_t pid)
{
    switch (plan.method) {
    case Method::direct:
        CAGE_TRY(write_proc_file(pid, "gid_map", format_map(plan.gid_map)));
        CAGE_TRY(write_proc_file(pid, "uid_map", format_map(plan.uid_map)));
        return {};
    case Method::single:
        // An unprivileged writer may map only its own id, and only after denying setgroups.
        CAGE_TRY(write_proc_file(pid, "setgroups", "deny"));
        CAGE_TRY(write_proc_file(pid, "gid_map", format_map(plan.gid_map)));
        CAGE_TRY(write_proc_file(pid, "uid_map", format_map(plan.uid_map)));
        return {};
    case Method::helper: {
        // Both helpers run at once: each is a setuid exec, the slowest part of a rootless start.
        const std::string hint = "check the user's ranges in /etc/subuid and /etc/subgid, "
                                 "and that newuidmap/newgidmap are setuid root";
        auto gid_run = CAGE_TRY(start_helper(plan.newgidmap, helper_arguments(pid, plan.gid_map)));
        auto uid_run = start_helper(plan.newuidmap, helper_arguments(pid, plan.uid_map));
        auto gid_done = finish_helper(gid_run, plan.newgidmap, hint);
        if (!uid_run)
            return std::unexpected(uid_run.error());
        auto uid_done = finish_helper(*uid_run, plan.newuidmap, hint);
        if (!gid_done)
            return gid_done;
        return uid_done;
    }
    }
    return std::unexpected(plain_error("unknown id map method"));
}

}  // namespace cage::idmap
