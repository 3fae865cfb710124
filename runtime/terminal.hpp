// Pseudo-terminals: the container opens its pty from its own devpts instance (so the command
// sees /dev/pts/0 of its own); the parent gets the master side and relays the caller's
// terminal in raw mode.
#pragma once

#include <cage/error.hpp>

#include <sys/ioctl.h>
#include <termios.h>

#include <optional>

#include "runtime/fd.hpp"

namespace cage::terminal {

struct Pty {
    UniqueFd master;
    UniqueFd slave;
};

// Inside the container, after pivot_root: /dev/ptmx is the container's devpts.
Expected<Pty> open_pty(const std::optional<winsize>& size);

// The caller's window size, if fd is a terminal.
std::optional<winsize> window_size(int fd);
void copy_window_size(int from_terminal, int to_pty);

// Puts a terminal in raw mode and restores it when destroyed.
class RawMode {
public:
    explicit RawMode(int fd);
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;
    ~RawMode();

private:
    int fd_;
    std::optional<termios> saved_;
};

}  // namespace cage::terminal
