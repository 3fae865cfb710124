// The parent's side once the container runs: relay the pty, forward stop requests, enforce
// the timeout, collect the outcome. Everything is driven by one poll loop over the pidfd,
// the sync socket, a signalfd and (with a pty) the caller's terminal.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <chrono>

#include "runtime/cgroups.hpp"
#include "runtime/sync.hpp"

namespace cage::supervise {

// Signals the parent handles while a container runs (blocked, read from a signalfd).
sigset_t handled_signals();

struct Supervised {
    const runtime::Spec& spec;
    int pidfd;
    const sync::Channel& channel;
    int signal_fd;
    std::chrono::steady_clock::time_point started;
    cgroups::Manager* cgroup = nullptr;  // stop and timeout kill everything in it
};

// Returns when pid 1 of the container has exited and been reaped.
Expected<runtime::Result> run(const Supervised& container);

}  // namespace cage::supervise
