#include "runtime/supervise.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "runtime/seccomp.hpp"
#include "runtime/sys.hpp"
#include "runtime/terminal.hpp"

namespace cage::supervise {
namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, const char* data, std::size_t size)
{
    while (size > 0) {
        ssize_t written = ::write(fd, data, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return false;
        data += written;
        size -= static_cast<std::size_t>(written);
    }
    return true;
}

// Copy what is available from one fd to another; false once the source is done.
bool pump(int from, int to)
{
    char buffer[65536];
    ssize_t got = ::read(from, buffer, sizeof(buffer));
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (got <= 0)
        return false;  // EOF, or EIO from a pty master whose slave is gone
    write_all(to, buffer, static_cast<std::size_t>(got));
    return true;
}

class Supervisor {
public:
    explicit Supervisor(const Supervised& container) : c_(container)
    {
        if (c_.spec.timeout.count() > 0)
            timeout_at_ = c_.started + c_.spec.timeout;
    }

    Expected<runtime::Result> run()
    {
        while (!exited_) {
            auto polled = poll_once();
            if (!polled)
                return std::unexpected(polled.error());
        }
        return finish();
    }

private:
    enum Slot { pidfd_slot, channel_slot, signal_slot, stdin_slot, master_slot, listener_slot, slots };

    Expected<void> poll_once()
    {
        pollfd fds[slots] = {};
        fds[pidfd_slot] = {c_.pidfd, POLLIN, 0};
        fds[channel_slot] = {channel_open_ ? c_.channel.fd() : -1, POLLIN, 0};
        fds[signal_slot] = {c_.signal_fd, POLLIN, 0};
        fds[stdin_slot] = {master_ && stdin_open_ ? STDIN_FILENO : -1, POLLIN, 0};
        fds[master_slot] = {master_ ? master_.get() : -1, POLLIN, 0};
        fds[listener_slot] = {listener_ ? listener_.get() : -1, POLLIN, 0};
        int ready = ::poll(fds, slots, poll_timeout_ms());
        if (ready < 0 && errno != EINTR)
            return std::unexpected(errno_error("wait for the container"));
        check_deadlines();
        if (ready <= 0)
            return {};
        if (fds[channel_slot].revents)
            CAGE_TRY(read_channel());
        if (fds[signal_slot].revents)
            handle_signal();
        if (fds[stdin_slot].revents && !pump(STDIN_FILENO, master_.get()))
            stdin_open_ = false;
        if (fds[master_slot].revents && !pump(master_.get(), STDOUT_FILENO))
            master_.reset();
        if (fds[listener_slot].revents)
            answer_refusal(fds[listener_slot].revents);
        if (fds[pidfd_slot].revents)
            reap();
        return {};
    }

    void answer_refusal(short events)
    {
        if (!(events & POLLIN)) {  // POLLHUP: every process under the filter is gone
            listener_.reset();
            return;
        }
        auto denial = seccomp::answer_one(listener_.get(), c_.spec.seccomp);
        if (!denial)
            return;
        ++refused_[denial->syscall];
        if (c_.spec.on_denial)
            c_.spec.on_denial(*denial);
    }

    int poll_timeout_ms() const
    {
        std::optional<Clock::time_point> next;
        if (timeout_at_)
            next = timeout_at_;
        if (kill_at_ && (!next || *kill_at_ < *next))
            next = kill_at_;
        if (!next)
            return -1;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now()).count();
        return static_cast<int>(std::clamp<long long>(left + 1, 0, 1 << 30));
    }

    void check_deadlines()
    {
        auto now = Clock::now();
        if (timeout_at_ && now >= *timeout_at_ && !timed_out_) {
            timed_out_ = true;
            kill_container();
        }
        if (kill_at_ && now >= *kill_at_) {
            kill_at_.reset();
            kill_container();
        }
    }

    void kill_container()
    {
        // SIGKILL of pid 1 takes the whole PID namespace with it; cgroup.kill takes every
        // process of the cgroup at once (none can fork away while pid 1 dies).
        if (c_.cgroup)
            c_.cgroup->kill_all();
        sys::pidfd_send_signal(c_.pidfd, SIGKILL);
    }

    Expected<void> read_channel()
    {
        auto received = CAGE_TRY(c_.channel.receive());
        if (!received) {
            channel_open_ = false;
            return {};
        }
        handle_message(*received);
        return {};
    }

    void handle_message(sync::Received& received)
    {
        const auto& message = received.message;
        switch (message.type) {
        case sync::MsgType::pty_master:
            master_ = std::move(received.fd);
            raw_mode_.emplace(STDIN_FILENO);
            break;
        case sync::MsgType::error:
            if (!error_)
                error_ = sync::to_error(message);
            break;
        case sync::MsgType::exited:
            exit_code_ = message.code;
            exit_signal_ = message.signal;
            break;
        case sync::MsgType::seccomp_listener:
            listener_ = std::move(received.fd);
            break;
        case sync::MsgType::go:
        case sync::MsgType::cgroup:
        case sync::MsgType::layer:
        case sync::MsgType::bind:
        case sync::MsgType::network:  // (parent to child only)
            break;
        }
    }

    void handle_signal()
    {
        signalfd_siginfo info{};
        if (::read(c_.signal_fd, &info, sizeof(info)) != sizeof(info))
            return;
        int sig = static_cast<int>(info.ssi_signo);
        if (sig == SIGWINCH) {
            if (master_)
                terminal::copy_window_size(STDIN_FILENO, master_.get());
            return;
        }
        if (sig == SIGQUIT) {
            sys::pidfd_send_signal(c_.pidfd, sig);
            return;
        }
        // SIGINT, SIGTERM, SIGHUP: a stop request. The first is passed on (pid 1 forwards it
        // to the command) with a grace period; a second one, or the end of the grace, kills.
        if (stopped_) {
            kill_container();
            return;
        }
        stopped_ = true;
        sys::pidfd_send_signal(c_.pidfd, sig);
        kill_at_ = Clock::now() + c_.spec.stop_grace;
    }

    void reap()
    {
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c_.pidfd), &info, WEXITED | WNOHANG) < 0 ||
            info.si_pid == 0)
            return;
        exited_ = true;
        pid1_status_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }

    // pid 1 is gone and with it every process of the container: drain what is left.
    Expected<runtime::Result> finish()
    {
        while (channel_open_)
            CAGE_TRY(read_channel());
        if (master_) {
            ::fcntl(master_.get(), F_SETFL, O_NONBLOCK);
            char buffer[65536];
            ssize_t got;
            while ((got = ::read(master_.get(), buffer, sizeof(buffer))) > 0)
                write_all(STDOUT_FILENO, buffer, static_cast<std::size_t>(got));
        }
        raw_mode_.reset();
        if (error_ && !timed_out_)
            return std::unexpected(*error_);
        runtime::Result result;
        result.elapsed = Clock::now() - c_.started;
        result.stopped = stopped_;
        result.refused = refused_;
        if (timed_out_) {
            result.timed_out = true;
            result.exit_code = exit_timeout;
            result.signal = SIGKILL;
        } else if (exit_code_) {
            result.exit_code = *exit_code_;
            result.signal = exit_signal_;
        } else {
            result.exit_code = pid1_status_;
            result.signal = pid1_status_ > 128 ? pid1_status_ - 128 : 0;
        }
        return result;
    }

    const Supervised& c_;
    std::optional<Clock::time_point> timeout_at_;
    std::optional<Clock::time_point> kill_at_;
    bool exited_ = false;
    bool channel_open_ = true;
    bool stdin_open_ = true;
    bool timed_out_ = false;
    bool stopped_ = false;
    UniqueFd master_;
    UniqueFd listener_;
    std::map<std::string, std::uint64_t> refused_;
    std::optional<terminal::RawMode> raw_mode_;
    std::optional<Error> error_;
    std::optional<int> exit_code_;
    int exit_signal_ = 0;
    int pid1_status_ = 0;
};

}  // namespace

sigset_t handled_signals()
{
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH})
        sigaddset(&set, sig);
    return set;
}

Expected<runtime::Result> run(const Supervised& container)
{
    return Supervisor(container).run();
}

}  // namespace cage::supervise
