// pid 1 of the container: reaps every orphan, forwards signals to the command, and exits
// with the command's status once it ends (the kernel then kills whatever is left in the
// PID namespace).
#pragma once

#include <sys/types.h>

#include "runtime/sync.hpp"

namespace cage::init {

// Signals pid 1 forwards to the command. They (and SIGCHLD) must be blocked before the
// command is forked, so none is lost in between.
const sigset_t& forwarded_signals();

// Block the forwarded signals and SIGCHLD in the calling process.
void block_signals();

[[noreturn]] void run(pid_t command, const sync::Channel& channel);

}  // namespace cage::init
