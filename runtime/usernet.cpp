#include "runtime/usernet.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

std::vector<std::string> arguments(const std::string& program, pid_t container_pid, bool sandbox)
{
    std::vector<std::string> args{program,
                                  "--configure",              // tap0 up with 10.0.2.100/24 and the default route, lo up
                                  "--mtu=65520",              // as podman: far fewer packets through slirp than 1500
                                  "--disable-host-loopback",  // 10.0.2.2 must not lead to the host's 127.0.0.1
                                  "--enable-seccomp"};        // slirp4netns under a seccomp filter of its own
    // And in an empty mount namespace. Unprivileged, slirp4netns makes that as root of the
    // container's user namespace, which a single-id map does not map: it then fails with
    // "setegid(0)".
    if (sandbox)
        args.push_back("--enable-sandbox");
    args.insert(args.end(), {"--ready-fd=" + std::to_string(ready_fd_number),
                             "--exit-fd=" + std::to_string(exit_fd_number), std::to_string(container_pid), "tap0"});
    return args;
}

// One descriptor over a socket (SCM_RIGHTS), with system calls only: the sender is a fork.
bool send_fd(int socket, int fd)
{
    char byte = 0;
    iovec data{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
    return ::sendmsg(socket, &message, MSG_NOSIGNAL) == 1;
}

UniqueFd receive_fd(int socket)
{
    char byte = 0;
    iovec data{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1)
        return {};
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (!header || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int)))
        return {};
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(header), sizeof(int));
    return UniqueFd(fd);
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
Readiness readiness_of(int ready)
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

Expected<UserNetwork> UserNetwork::start(pid_t container_pid, bool sandbox)
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
    auto args = arguments(program, container_pid, sandbox);
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0)
        return std::unexpected(errno_error("create the socket for slirp4netns's pidfd"));
    UniqueFd pidfd_in(ends[0]), pidfd_out(ends[1]);

    // slirp4netns is not cage's child but its grandchild, left to the host's reaper: its exit
    // closes the tap, and unregistering a network device waits for RCU grace periods, tens of
    // milliseconds that cage need not wait at its own end. Its pidfd comes back over a socket.
    pid_t middle = ::fork();
    if (middle < 0)
        return std::unexpected(errno_error("start slirp4netns"));
    if (middle == 0) {
        int pidfd = -1;
        clone_args clone{};
        clone.flags = CLONE_PIDFD;
        clone.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
        clone.exit_signal = SIGCHLD;
        pid_t slirp = sys::clone3(&clone);
        if (slirp == 0)
            exec_slirp(argv.data(), output.get(), ready.write_end.get(), exit_pipe.read_end.get());
        ::_exit(slirp > 0 && send_fd(pidfd_out.get(), pidfd) ? 0 : 1);
    }
    pidfd_out.reset();  // so that a middle process that died without a word reads as end of file
    while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
    }
    UniqueFd pidfd = receive_fd(pidfd_in.get());
    if (!pidfd)
        return std::unexpected(plain_error("start slirp4netns: it could not be spawned", {}, "or run with --network none"));
    ready.write_end.reset();  // so that its exit reads as end of file
    exit_pipe.read_end.reset();
    return UserNetwork(std::move(pidfd), std::move(exit_pipe.write_end), std::move(ready.read_end), std::move(output));
}

Expected<void> UserNetwork::wait_until_ready()
{
    if (auto readiness = readiness_of(ready_fd_.get()); readiness != Readiness::ready)
        return std::unexpected(start_error(readiness, output_of(output_.get())));
    ready_fd_.reset();
    output_.reset();
    return {};
}

UserNetwork::~UserNetwork()
{
    if (!pidfd_)
        return;
    exit_fd_.reset();
    // Not waited for (see start): the host's reaper collects it.
    sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
}

}  // namespace cage::usernet
