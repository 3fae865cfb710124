// The fixed final sequence of the command process, from the built container to execve:
//   session and terminal -> rlimits -> bounding set -> securebits -> groups, gid, uid ->
//   capabilities cleared -> no_new_privs -> working directory (verified) -> every inherited
//   descriptor marked close-on-exec -> seccomp, last -> execve.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <functional>
#include <cstdint>
#include <string>

namespace cage::security {

struct ExecContext {
    const runtime::Spec& spec;
    bool can_setgroups;
    int terminal = -1;  // pty slave to become the controlling terminal and stdio, or -1
    // The filter (empty: no seccomp), the same with audit notifications, and who takes the
    // notification listener.
    const seccomp::Filter& seccomp;
    const seccomp::Filter& seccomp_audited;
    std::function<Expected<void>(int listener)> hand_over_listener;
    // RLIMIT_NPROC when no cgroup caps the processes (the pids limit), or 0 for the default.
    std::uint64_t max_processes = 0;
};

// Only returns on failure; the error's exit_code is 126 or 127 when execve itself failed.
Error exec_command(const ExecContext& context);

// Resource limits of the command: no core dumps, bounded open files and processes
// (max_processes, or 16384 when 0; never above the caller's own limits).
Expected<void> apply_rlimits(std::uint64_t max_processes = 0);

// chdir, then refuse a working directory outside the container (CVE-2024-21626: a leaked
// host directory fd would show as "(unreachable)/...").
Expected<void> enter_workdir(const std::string& path);

// Look the command up in PATH (from the command's own environment) and execve it.
Error execute(const std::vector<std::string>& args, const std::vector<std::string>& env);

}  // namespace cage::security
