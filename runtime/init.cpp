#include "runtime/init.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

namespace cage::init {
namespace {

constexpr std::array forwarded{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

sigset_t make_set(bool with_child)
{
    sigset_t set;
    sigemptyset(&set);
    for (int sig : forwarded)
        sigaddset(&set, sig);
    if (with_child)
        sigaddset(&set, SIGCHLD);
    return set;
}

[[noreturn]] void report_and_exit(int status, const sync::Channel& channel)
{
    sync::Message message;
    message.type = sync::MsgType::exited;
    if (WIFSIGNALED(status)) {
        message.signal = WTERMSIG(status);
        message.code = 128 + message.signal;
    } else {
        message.code = WEXITSTATUS(status);
    }
    (void)channel.send(message);
    // pid 1 cannot die of its own signals: the parent learns the signal from the message.
    ::_exit(message.code);
}

}  // namespace

const sigset_t& forwarded_signals()
{
    static const sigset_t set = make_set(false);
    return set;
}

void block_signals()
{
    sigset_t set = make_set(true);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void run(pid_t command, const sync::Channel& channel)
{
    sigset_t set = make_set(true);
    int signals = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (signals < 0)
        ::_exit(125);
    while (true) {
        signalfd_siginfo info{};
        if (::read(signals, &info, sizeof(info)) != sizeof(info))
            continue;
        if (info.ssi_signo != SIGCHLD) {
            ::kill(command, static_cast<int>(info.ssi_signo));
            continue;
        }
        int status = 0;
        pid_t reaped;
        while ((reaped = ::waitpid(-1, &status, WNOHANG)) > 0)
            if (reaped == command)
                report_and_exit(status, channel);
    }
}

}  // namespace cage::init
