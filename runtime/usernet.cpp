#include "runtime/usernet.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "runtime/sys.hpp"
#include "runtime/util.hpp"

namespace cage::usernet {
namespace {

// The descriptors slirp4netns is told of on its command line.
constexpr int ready_fd_number = 3;
constexpr int exit_fd_number = 4;
constexpr int ready_timeout_ms = 30000;

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

Expected<Pipe> make_pipe(const char* what)
{
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) < 0)
        return std::unexpected(errno_error(std::string("create the pipe for slirp4netns's ") + what));
    return Pipe{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

std::vector<std::string> arguments(const std::string& program, pid_t container_pid)
{
    return {program,
            "--configure",              // tap0 up with 10.0.2.100/24 and the default route, lo up
            "--mtu=65520",              // as podman: far fewer packets through slirp than 1500
            "--disable-host-loopback",  // 10.0.2.2 must not lead to the host's 127.0.0.1
            "--enable-sandbox",         // slirp4netns itself in an empty mount namespace
            "--enable-seccomp",         // and under a seccomp filter of its own
            "--ready-fd=" + std::to_string(ready_fd_number),
            "--exit-fd=" + std::to_string(exit_fd_number),
            std::to_string(container_pid),
            "tap0"};
}

// In the child, between clone3 and execve: only system calls. OUTPUT takes slirp4netns's
// stdout and stderr (it reports progress on stdout); the ready and exit ends go to the numbers
// its command line names, and nothing else of cage's survives the exec.
[[noreturn]] void exec_slirp(char* const* argv, int output, int ready, int exit_end)
{
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // cage blocks the signals it supervises
    ::setsid();  // not in the terminal's process group: Ctrl-C is for the container
    int null = ::open("/dev/null", O_RDONLY);
    // Out of the way of 0..4 first (F_DUPFD_CLOEXEC), so that no dup2 below is a no-op that
    // leaves close-on-exec set, or overwrites an end still to be moved.
    output = ::fcntl(output, F_DUPFD_CLOEXEC, 10);
    ready = ::fcntl(ready, F_DUPFD_CLOEXEC, 10);
    exit_end = ::fcntl(exit_end, F_DUPFD_CLOEXEC, 10);
    null = ::fcntl(null, F_DUPFD_CLOEXEC, 10);
    if (output < 0 || ready < 0 || exit_end < 0 || null < 0 || ::dup2(null, STDIN_FILENO) < 0 ||
        ::dup2(output, STDOUT_FILENO) < 0 || ::dup2(output, STDERR_FILENO) < 0 ||
        ::dup2(ready, ready_fd_number) < 0 || ::dup2(exit_end, exit_fd_number) < 0 ||
        sys::close_range(exit_fd_number + 1, ~0U, 0) < 0)
        ::_exit(127);
    ::execve(argv[0], argv, environ);
    static const char reason[] = "cannot execute slirp4netns\n";
    (void)!::write(STDERR_FILENO, reason, sizeof(reason) - 1);
    ::_exit(127);
}

// What slirp4netns wrote, from the start of the memfd it wrote to.
std::string output_of(int memfd)
{
    std::string output;
    char chunk[512];
    ssize_t got;
    off_t offset = 0;
    while (output.size() < 16384 && (got = ::pread(memfd, chunk, sizeof(chunk), offset)) > 0) {
        output.append(chunk, static_cast<std::size_t>(got));
        offset += got;
    }
    return output;
}

enum class Readiness { ready, failed, timed_out };

// Whether slirp4netns wrote "1" to its ready descriptor, or closed it without (it failed), or
// neither within the timeout.
Readiness wait_until_ready(int ready)
{
    pollfd watched{ready, POLLIN, 0};
    int polled;
    while ((polled = ::poll(&watched, 1, ready_timeout_ms)) < 0 && errno == EINTR) {
    }
    if (polled == 0)
        return Readiness::timed_out;
    char byte = 0;
    return polled > 0 && ::read(ready, &byte, 1) == 1 && byte == '1' ? Readiness::ready : Readiness::failed;
}

Error start_error(Readiness readiness, const std::string& output)
{
    auto why = failure_line(output);
    if (readiness == Readiness::timed_out)
        why = "it did not get ready within " + std::to_string(ready_timeout_ms / 1000) + " s" +
              (why.empty() ? "" : " (" + why + ")");
    auto error = plain_error("start the user-mode network: slirp4netns failed: " +
                             (why.empty() ? std::string("it exited without a word") : why));
    if (why.find("/dev/net/tun") != std::string::npos)
        error.hint = "slirp4netns needs /dev/net/tun readable and writable by you (udev makes it mode "
                     "0666); or run with --network none";
    else
        error.hint = "or run with --network none";
    return error;
}

}  // namespace

std::string failure_line(std::string_view output)
{
    std::string_view fallback;
    while (!output.empty()) {
        auto line = output.substr(0, output.find('\n'));
        output.remove_prefix(std::min(output.size(), line.size() + 1));
        if (line.empty() || line.starts_with("WARNING") || line.starts_with("sent tapfd") ||
            line.starts_with("received tapfd"))
            continue;
        if (line.starts_with("child failed"))  // its summary: the child's own line says why
            fallback = fallback.empty() ? line : fallback;
        else
            return std::string(line);
    }
    return std::string(fallback);
}

Expected<UserNetwork> UserNetwork::start(pid_t container_pid)
{
    auto program = find_in_path("slirp4netns");
    if (program.empty())
        return std::unexpected(plain_error("the user-mode network needs slirp4netns, which is not installed", {},
                                           "install it (apt-get install slirp4netns), or run with --network none"));
    auto ready = CAGE_TRY(make_pipe("readiness"));
    auto exit_pipe = CAGE_TRY(make_pipe("end"));
    UniqueFd output(::memfd_create("slirp4netns-output", MFD_CLOEXEC));
    if (!output)
        return std::unexpected(errno_error("create the memory file for slirp4netns's output"));
    auto args = arguments(program, container_pid);
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);

    int pidfd = -1;
    clone_args clone{};
    clone.flags = CLONE_PIDFD;
    clone.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    clone.exit_signal = SIGCHLD;
    pid_t pid = sys::clone3(&clone);
    if (pid < 0)
        return std::unexpected(errno_error("start slirp4netns"));
    if (pid == 0)
        exec_slirp(argv.data(), output.get(), ready.write_end.get(), exit_pipe.read_end.get());
    UserNetwork network(UniqueFd(pidfd), std::move(exit_pipe.write_end));
    ready.write_end.reset();  // so that its exit reads as end of file
    exit_pipe.read_end.reset();
    if (auto readiness = wait_until_ready(ready.read_end.get()); readiness != Readiness::ready)
        return std::unexpected(start_error(readiness, output_of(output.get())));
    return network;
}

UserNetwork::~UserNetwork()
{
    if (!pidfd_)
        return;
    exit_fd_.reset();
    // Nothing of slirp4netns's is worth a wait: the container it served is gone.
    sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED);
}

}  // namespace cage::usernet
