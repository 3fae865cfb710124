// libcage: the Spec a container is started from, and the Result it ends with.
//
// A Spec is plain data, like an OCI config.json: no YAML, no images, no agent profiles. The
// cage CLI turns its options into a Spec; an embedder can build one directly and call
// cage::runtime::run() (see cage/cage.hpp).
#pragma once

#include <cage/error.hpp>
#include <cage/seccomp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cage::runtime {

enum class Network {
    none,  // a new network namespace with only loopback, up
    host,  // share the host's network namespace
    // A new network namespace whose tap0 slirp4netns (a host process, which must be
    // installed) connects to the host's own sockets: outbound TCP and UDP, DNS at 10.0.2.3,
    // nothing reachable from outside, and the host's loopback refused.
    slirp4netns,
};

// A bind mount of a host path into the container.
struct Bind {
    std::string source;       // host path (file or directory); must exist
    std::string destination;  // absolute path inside the container
    bool read_only = false;
};

// Resource limits of the whole container (every process in it), enforced by a cgroup v2 of
// its own: memory.max, memory.swap.max, pids.max, cpu.max, io.weight. nullopt = unlimited.
// Where no cgroup v2 can be used (a cgroup v1 host; rootless without a delegated subtree)
// the limits are not enforced: run() warns (Spec::warn_limits) and caps the command's
// processes with RLIMIT_NPROC = pids instead, which binds no process of host root; root on a
// cgroup v1 host gets pids enforced by a v1 pids cgroup instead. A limit marked required that
// cannot be enforced makes run() fail with exit code 125.
struct Limits {
    std::optional<std::uint64_t> memory = std::uint64_t{4} << 30;  // bytes (memory.max)
    std::optional<std::uint64_t> swap;  // bytes (memory.swap.max); nullopt: 0 when memory is limited
    std::optional<std::uint64_t> pids = 512;  // pids.max
    std::optional<double> cpus;               // CPUs' worth of time (cpu.max), may be fractional
    std::optional<std::uint32_t> io_weight;   // 1..10000 (io.weight)
    // Limits the caller insisted on: run() fails rather than run without them.
    bool require_memory = false;
    bool require_pids = false;
    bool require_cpus = false;
    bool require_io_weight = false;
};

struct Spec {
    // The command: args[0] is looked up in the container's PATH unless it contains a '/'.
    std::vector<std::string> args;
    // The complete environment of the command, as KEY=VALUE; nothing else is passed.
    std::vector<std::string> env;

    // The root: an overlay whose lower layers are these directories, top first. They are
    // never modified: writes go to the upper directory.
    std::vector<std::string> lower_dirs;
    // Where writes to the root go. Empty: a tmpfs private to the container, gone at exit.
    // Otherwise a directory on the host (kept after exit); its sibling "work" directory is
    // used as the overlay work dir and is created when missing.
    std::string upper_dir;
    bool read_only_root = true;

    std::vector<Bind> binds;  // mounted in order, after /proc, /dev and /tmp
    std::string cwd = "/";    // working directory of the command inside

    // The user the command runs as inside the container. The invoking user maps to it.
    std::uint32_t uid = 1000;
    std::uint32_t gid = 1000;

    std::string hostname = "cage";
    Network network = Network::none;
    // The content of /etc/resolv.conf inside (a read-only file over the image's). nullopt:
    // "nameserver 10.0.2.3" for slirp4netns, the host's own file for host, and the image's
    // own for none.
    std::optional<std::string> resolv_conf;

    // Give the command a pseudo-terminal inside and relay the caller's stdin/stdout to it
    // (the caller's stdin must be a terminal). Otherwise the caller's stdio fds are passed.
    bool terminal = false;

    // Kill the whole container when it runs longer than this; zero means no limit.
    std::chrono::milliseconds timeout{0};
    // After a stop request (SIGINT/SIGTERM/SIGHUP to the caller), how long the command gets
    // to exit before everything in the container is killed.
    std::chrono::milliseconds stop_grace{5000};

    // The seccomp filter the command runs under (see cage/seccomp.hpp); empty: none. Calls it
    // refuses with an errno other than ENOSYS are audited: counted in Result::refused, and
    // each one passed to on_denial (from the thread that called run(), while it runs).
    seccomp::Filter seccomp;
    std::function<void(const seccomp::Denial&)> on_denial;

    // Called with one-line warnings (for example a single-id map fallback). Default: stderr.
    std::function<void(const std::string&)> warn;
    // Called instead of warn with the one-line warning that limits are not (all) enforced on
    // this host (the cage CLI says it once per user). Default: warn.
    std::function<void(const std::string&)> warn_limits;

    // As root a container's ids all map into root's subordinate range, its user's too, and
    // binds are idmapped so that host root's files are that user's. Where a bind cannot be
    // idmapped (a filesystem or kernel without idmapped mounts), the container's user is host
    // root itself instead: run() then calls this first, before it creates anything. That is
    // the case CVE-2019-5736 is about; the cage CLI re-executes through a read-only bind of
    // itself here (seal_executable). An error ends run() with it.
    std::function<Expected<void>()> before_host_root;
    // As root: skip the shifted maps and start with the container's user as host root at
    // once (before_host_root is still called first). For a caller that already knows a bind
    // cannot be idmapped: the cage CLI sets it in the copy of itself that before_host_root
    // re-executed, which would otherwise find that out again with a pid 1 of its own.
    bool host_root_maps = false;

    Limits limits;
};

struct Result {
    int exit_code = 0;   // the command's status, 128+signal, or 124 after a timeout
    int signal = 0;      // the signal that killed the command, or 0
    bool timed_out = false;
    bool stopped = false;  // ended by a stop request (SIGINT/SIGTERM/SIGHUP to the caller)
    std::chrono::nanoseconds elapsed{0};
    std::map<std::string, std::uint64_t> refused;  // system call name -> times refused

    // From the container's cgroup (absent when no cgroup v2 was used): the most memory it
    // used at once (memory.peak, bytes), and how many of its processes the kernel killed
    // for going over the memory limit (memory.events oom_kill; then the whole container is
    // killed, exit_code 137).
    std::optional<std::uint64_t> memory_peak;
    std::uint64_t oom_kills = 0;
};

}  // namespace cage::runtime
