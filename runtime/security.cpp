#include "runtime/security.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "runtime/caps.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/sys.hpp"
#include "runtime/util.hpp"

namespace cage::security {
namespace {

constexpr rlim_t open_files_soft = 1024;
constexpr rlim_t open_files_hard = 524288;
constexpr rlim_t processes = 16384;

Expected<void> lower_limit(int resource, rlim_t soft, rlim_t hard, const char* name)
{
    rlimit current{};
    if (::getrlimit(resource, &current) < 0)
        return std::unexpected(errno_error(std::string("read the ") + name + " limit"));
    rlimit wanted{std::min(soft, current.rlim_max), std::min(hard, current.rlim_max)};
    wanted.rlim_cur = std::min(wanted.rlim_cur, wanted.rlim_max);
    if (::setrlimit(resource, &wanted) < 0)
        return std::unexpected(errno_error(std::string("set the ") + name + " limit"));
    return {};
}

Expected<void> setup_session(int terminal)
{
    // A new session: the command can never reach the caller's terminal with TIOCSTI.
    if (::setsid() < 0)
        return std::unexpected(errno_error("start a new session"));
    if (terminal < 0)
        return {};
    if (::ioctl(terminal, TIOCSCTTY, 0) < 0)
        return std::unexpected(errno_error("make the pty the controlling terminal"));
    for (int fd = 0; fd <= 2; ++fd)
        if (::dup2(terminal, fd) < 0)
            return std::unexpected(errno_error("attach the pty to stdio"));
    return {};
}

Expected<void> set_ids(const runtime::Spec& spec, bool can_setgroups)
{
    if (can_setgroups) {
        gid_t group = spec.gid;
        if (::setgroups(1, &group) < 0)
            return std::unexpected(errno_error("set the supplementary groups"));
    }
    if (::setresgid(spec.gid, spec.gid, spec.gid) < 0)
        return std::unexpected(errno_error("switch to gid " + std::to_string(spec.gid)));
    if (::setresuid(spec.uid, spec.uid, spec.uid) < 0)
        return std::unexpected(errno_error("switch to uid " + std::to_string(spec.uid)));
    return {};
}

Expected<void> reset_signals()
{
    sigset_t none;
    sigemptyset(&none);
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0)
        return std::unexpected(errno_error("reset the signal mask"));
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::signal(sig, SIG_DFL);
    return {};
}

std::string lookup_path(const std::vector<std::string>& env)
{
    for (const auto& entry : env)
        if (entry.starts_with("PATH="))
            return entry.substr(5);
    return "/usr/local/bin:/usr/bin:/bin";
}

// What the user can do about a refused execve. EACCES covers three unrelated causes, told
// apart here: a directory, a file without an execute bit, and a noexec file system.
std::string exec_hint(const std::string& command, int errnum)
{
    if (errnum == ENOEXEC)
        return "it is not a program this machine runs: another architecture, or a script without a #! line";
    struct stat st{};
    if (errnum != EACCES || ::stat(command.c_str(), &st) < 0)
        return {};
    if (S_ISDIR(st.st_mode))
        return "it is a directory";
    if (!S_ISREG(st.st_mode))
        return "it is not a regular file";
    if ((st.st_mode & 0111) == 0)
        return "it has no execute permission: chmod +x it";
    struct statvfs vfs{};
    if (::statvfs(command.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NOEXEC))
        return "its file system is mounted noexec";
    return {};
}

Error exec_error(const std::string& command, int errnum)
{
    Error error{"cannot execute the command", errnum, command, exec_hint(command, errnum), exit_not_executable};
    if (errnum == ENOENT) {
        error.what = "command not found";
        error.errnum = 0;
        error.hint = "check the name and the container's PATH";
        error.exit_code = exit_not_found;
    }
    return error;
}

// Last before execve: from here on the command's own rules apply to cage too. The listener
// goes to the supervisor, which answers the refusals; a filter that already has a listener
// above it (cage inside a cage) cannot get one, and is loaded unaudited.
Expected<void> enter_seccomp(const ExecContext& context)
{
    if (context.seccomp.empty())
        return {};
    auto listener = seccomp::load(context.seccomp_audited, true);
    if (!listener && listener.error().errnum == EBUSY)
        listener = seccomp::load(context.seccomp, false);
    if (!listener)
        return std::unexpected(listener.error());
    if (*listener)
        CAGE_TRY(context.hand_over_listener(listener->get()));
    return {};
}

}  // namespace

Expected<void> apply_rlimits(std::uint64_t max_processes)
{
    rlim_t nproc = max_processes > 0 ? static_cast<rlim_t>(max_processes) : processes;
    CAGE_TRY(lower_limit(RLIMIT_CORE, 0, 0, "core dump size"));
    CAGE_TRY(lower_limit(RLIMIT_NOFILE, open_files_soft, open_files_hard, "open files"));
    CAGE_TRY(lower_limit(RLIMIT_NPROC, nproc, nproc, "process count"));
    return {};
}

Expected<void> enter_workdir(const std::string& path)
{
    if (::chdir(path.c_str()) < 0)
        return std::unexpected(errno_error("change to the working directory", path));
    char resolved[PATH_MAX];
    if (!::getcwd(resolved, sizeof(resolved)) || resolved[0] != '/')
        return std::unexpected(plain_error("the working directory is outside the container", path));
    return {};
}

Error execute(const std::vector<std::string>& args, const std::vector<std::string>& env)
{
    std::vector<char*> argv, envp;
    for (const auto& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    for (const auto& entry : env)
        envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);

    const std::string& command = args.front();
    if (command.find('/') != std::string::npos) {
        ::execve(command.c_str(), argv.data(), envp.data());
        return exec_error(command, errno);
    }
    // As execvp: try each PATH entry; a directory that exists but refuses us is remembered.
    int first_refusal = 0;
    std::string refused;
    for (const auto& candidate : path_candidates(lookup_path(env), command)) {
        ::execve(candidate.c_str(), argv.data(), envp.data());
        if (errno != ENOENT && errno != ENOTDIR && first_refusal == 0) {
            first_refusal = errno;
            refused = candidate;
        }
    }
    if (first_refusal != 0)
        return exec_error(refused, first_refusal);
    return exec_error(command, ENOENT);
}

Error exec_command(const ExecContext& context)
{
    auto prepared = [&]() -> Expected<void> {
        CAGE_TRY(reset_signals());
        CAGE_TRY(setup_session(context.terminal));
        CAGE_TRY(apply_rlimits(context.max_processes));
        CAGE_TRY(caps::drop_bounding_set());
        CAGE_TRY(caps::lock_securebits());
        CAGE_TRY(set_ids(context.spec, context.can_setgroups));
        CAGE_TRY(caps::clear_all());
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            return std::unexpected(errno_error("set no_new_privs"));
        CAGE_TRY(enter_workdir(context.spec.cwd));
        // Whatever the caller had open beyond stdio closes at execve; the sync socket stays
        // usable until then to report an execve failure.
        if (sys::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
            return std::unexpected(errno_error("mark inherited descriptors close-on-exec"));
        return enter_seccomp(context);
    }();
    if (!prepared)
        return prepared.error();
    return execute(context.spec.args, context.spec.env);
}

}  // namespace cage::security
