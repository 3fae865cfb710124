#include "runtime/terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

namespace cage::terminal {

Expected<Pty> open_pty(const std::optional<winsize>& size)
{
    Pty pty;
    pty.master.reset(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pty.master)
        return std::unexpected(errno_error("open a pseudo-terminal", "/dev/ptmx"));
    if (::unlockpt(pty.master.get()) < 0)
        return std::unexpected(errno_error("unlock the pseudo-terminal"));
    // TIOCGPTPEER opens the slave through the master, with no path lookup at all.
    pty.slave.reset(::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pty.slave)
        return std::unexpected(errno_error("open the pseudo-terminal's slave"));
    if (size)
        ::ioctl(pty.master.get(), TIOCSWINSZ, &*size);
    return pty;
}

std::optional<winsize> window_size(int fd)
{
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) < 0)
        return std::nullopt;
    return size;
}

void copy_window_size(int from_terminal, int to_pty)
{
    if (auto size = window_size(from_terminal))
        ::ioctl(to_pty, TIOCSWINSZ, &*size);
}

RawMode::RawMode(int fd) : fd_(fd)
{
    termios current{};
    if (::tcgetattr(fd, &current) < 0)
        return;
    saved_ = current;
    ::cfmakeraw(&current);
    ::tcsetattr(fd, TCSADRAIN, &current);
}

RawMode::~RawMode()
{
    if (saved_)
        ::tcsetattr(fd_, TCSADRAIN, &*saved_);
}

}  // namespace cage::terminal
