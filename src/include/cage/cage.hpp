// libcage: the public API.
//
//   #include <cage/cage.hpp>
//
//   cage::runtime::Spec spec;
//   spec.lower_dirs = {"/srv/rootfs"};
//   spec.args = {"/bin/sh", "-c", "echo hello from $(hostname)"};
//   spec.env = {"PATH=/usr/bin:/bin"};
//   spec.hostname = "demo";
//   auto result = cage::runtime::run(spec);
//   if (!result) { std::cerr << result.error().message() << '\n'; return result.error().exit_code; }
//   return result->exit_code;
//
// run() creates user, mount, PID, network, UTS, IPC and cgroup namespaces with one clone3,
// maps the caller to spec.uid/gid, builds an overlay root over spec.lower_dirs, mounts /proc,
// /sys (read-only), a minimal /dev and a tmpfs /tmp, pivots into it, drops every capability,
// sets no_new_privs and executes the command under a small pid-1 init, in a cgroup v2 of its
// own holding spec.limits where one can be had (see Limits in cage/spec.hpp). It returns when
// the command has exited and nothing of the container is left, its cgroup included.
//
// While run() is active it blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH and SIGCHLD in
// the calling thread and handles them itself (a stop request, a terminal resize); the
// previous signal mask is restored on return. Call it from a single-threaded process, or
// block those signals in every other thread.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

namespace cage::runtime {

// Start the container described by spec and wait for it to end. Errors (exit_code 125, or
// 126/127 when the command cannot be executed or found) come back as cage::Error.
Expected<Result> run(const Spec& spec);

}  // namespace cage::runtime

namespace cage {

// Protect the running binary against being overwritten through /proc/self/exe
// (CVE-2019-5736): re-execute from a sealed memfd copy (as root: through a read-only bind of
// the binary) unless already running from one, or unless no container of this user could
// write the binary (rootless, and the binary belongs to root and is writable by nobody else).
// Call it first thing in main(); on success it either returns at once or does not return at
// all. Before re-executing it sets $CAGE_SEALED_FROM to the binary's path, which
// /proc/self/exe no longer shows afterwards. As root no container id is host root unless a
// bind cannot be idmapped: a program that runs as root may call it from
// Spec::before_host_root instead, as the cage CLI does, and skip the re-execution otherwise.
Expected<void> seal_executable(int argc, char** argv);
inline constexpr const char* sealed_from_variable = "CAGE_SEALED_FROM";

}  // namespace cage
