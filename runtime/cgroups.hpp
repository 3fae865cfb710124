// cgroups: one manager interface, three drivers.
//
//   fs       cgroup v2 through the filesystem (cgroups_fs.cpp): as root, a child of the root
//            cgroup; rootless, inside the subtree delegated to the user
//   systemd  a rootless user whose cgroup is not delegated, with a systemd user manager:
//            cage re-executes itself in `systemd-run --user --scope -p Delegate=yes`
//            (cgroups_systemd.cpp), and then uses fs
//   v1 pids  root on a cgroup v1 or hybrid host: the pids limit through the v1 pids
//            controller (cgroups_v1.cpp); the other limits are not enforced (warned)
//   none     no usable cgroup: limits are not enforced (warned), RLIMIT_NPROC caps the
//            number of processes (which binds no process of host root)
//
// The decision ladder (choose()) is pure and unit-tested; make_manager() gathers the facts.
// Only cgroups cage created are ever written, killed or removed.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cage::cgroups {

inline constexpr const char* mount_point = "/sys/fs/cgroup";
inline constexpr const char* v1_pids_mount = "/sys/fs/cgroup/pids";
inline constexpr const char* supervisor_name = "cage-supervisor";
// cpu.max period in microseconds (the kernel's default).
inline constexpr std::uint64_t cpu_period = 100'000;

enum class Driver { fs, systemd, v1_pids, none };

// Where an fs cgroup goes, relative to the cgroup cage runs in ("own").
enum class Placement {
    top,       // root: a child of the root cgroup
    split,     // own is delegated and holds only cage: cage moves to own/cage-supervisor,
               // the container gets own/cage-PID (a systemd-run --scope -p Delegate=yes)
    sibling,   // own's parent is delegated and has the controllers: parent/cage-PID
    nowhere,
};

struct HostFacts {
    bool cgroup2 = false;           // /sys/fs/cgroup is a cgroup2 mount
    bool root = false;              // euid 0
    bool own_delegated = false;     // we may create in own and write its subtree_control
    bool own_only_us = false;       // own holds no process but this one
    bool parent_delegated = false;  // we may create in own's parent and move processes there
    bool systemd_user = false;      // a systemd user manager and systemd-run are reachable
    bool in_scope = false;          // already re-executed under systemd-run (no second time)
    bool v1_pids = false;           // a cgroup v1 pids hierarchy at /sys/fs/cgroup/pids
};

struct Choice {
    Driver driver = Driver::none;
    Placement placement = Placement::nowhere;
    std::string reason;  // for none and v1_pids: why no cgroup v2, and how to get one
};

Choice choose(const HostFacts& facts);

// /sys/fs/cgroup + a cgroup path ("/a/b"), and the parent cgroup of one ("/a"; "/" for "/").
std::string path_of(const std::string& cgroup);
std::string parent_of(const std::string& cgroup);
// The controllers the limits need ("memory", "pids", "cpu", "io"), in that order.
std::vector<std::string> wanted_controllers(const runtime::Limits& limits);
// Whether a space-separated controller list (cgroup.controllers, cgroup.subtree_control)
// names the controller.
bool lists_controller(std::string_view list, std::string_view controller);
// The cpu.max line for a quota in CPUs: "QUOTA PERIOD" (at least 1000 us), or "max PERIOD".
std::string format_cpu_max(std::optional<double> cpus);
// The cgroup path of "0::PATH" in /proc/self/cgroup text, or nullopt (no v2 line).
std::optional<std::string> own_cgroup(std::string_view proc_self_cgroup);
// The cgroup path of "N:CONTROLLERS:PATH" in /proc/self/cgroup text whose comma-separated
// CONTROLLERS name the v1 controller, or nullopt.
std::optional<std::string> own_v1_cgroup(std::string_view proc_self_cgroup, std::string_view controller);
// The value of "KEY VALUE" in a flat-keyed file (memory.events, cpu.stat), or nullopt.
std::optional<std::uint64_t> keyed_value(std::string_view content, std::string_view key);

struct Usage {
    std::optional<std::uint64_t> memory_peak;
    std::uint64_t oom_kills = 0;
};

class Manager {
public:
    virtual ~Manager() = default;
    // A directory fd for clone3's CLONE_INTO_CGROUP, or -1 (no cgroup).
    virtual int clone_fd() const = 0;
    // Move a process in (when clone3 could not place it).
    virtual Expected<void> enter(pid_t pid) = 0;
    // A file through which the container's pid 1, still single-threaded, moves itself in by
    // writing "0" (the v1 "tasks" file), or -1: then the parent calls enter(). A v1 move of
    // a whole process takes the global cgroup_threadgroup_rwsem for writing, which waits for
    // an RCU grace period (often 5 to 15 ms on a busy host); a thread moving itself skips it.
    virtual int self_enter_fd() const { return -1; }
    // Whether the cgroup is made only after clone3, by make_late(), and handed to pid 1 then.
    // Only a cgroup pid 1 enters by itself can wait (it does so before it forks anything), and
    // making it meanwhile takes its mkdir, limit and janitor fork off the start's critical path.
    virtual bool made_late() const { return false; }
    virtual Expected<void> make_late() { return {}; }
    // SIGKILL every process in the cgroup (cgroup.kill).
    virtual void kill_all() = 0;
    virtual Usage usage() const = 0;
    // Kill what is left, wait for it, remove the cgroup. Idempotent.
    virtual Expected<void> destroy() = 0;
    // RLIMIT_NPROC for the command: the pids limit when no cgroup enforces it, else 0 (none).
    virtual std::uint64_t nproc_fallback() const = 0;
};

// The ladder: decide the driver, create the cgroup with the limits written. Warnings (one
// line, at most one) go to warn. Fails when a required limit cannot be enforced.
Expected<std::unique_ptr<Manager>> make_manager(const runtime::Limits& limits,
                                                const std::function<void(const std::string&)>& warn);

// Facts about this host and process, for choose().
HostFacts gather_facts();

// --- drivers ---
std::unique_ptr<Manager> none_manager(const runtime::Limits& limits);
Expected<std::unique_ptr<Manager>> fs_manager(Placement placement, const std::string& own,
                                              const runtime::Limits& limits,
                                              std::vector<std::string>& missing);
// own_pids: cage's own cgroup in the v1 pids hierarchy. Every wanted controller but pids goes
// to missing.
Expected<std::unique_ptr<Manager>> pids_v1_manager(const std::string& own_pids, const runtime::Limits& limits,
                                                   std::vector<std::string>& missing);

// --- systemd driver (cgroups_systemd.cpp): no libsystemd, only systemd-run ---
// Set in the environment of the re-executed cage, so it never re-executes twice.
inline constexpr const char* scope_env = "CAGE_SYSTEMD_SCOPE";
// A systemd user manager answers ($XDG_RUNTIME_DIR/systemd/private or .../bus exists) and
// systemd-run is in PATH.
bool systemd_user_reachable();
// systemd-run --user --scope -p Delegate=yes --quiet --collect --unit=cage-PID -- EXE ARGS...
std::vector<std::string> scope_command(const std::string& systemd_run, const std::string& exe,
                                       std::span<const std::string> args, pid_t pid);
// Re-execute this cage (exe, args: argv[0] and the rest) in a delegated systemd scope when
// the ladder says so; returns when it does not (or with the exec's error).
Expected<void> maybe_reexec_in_scope(const runtime::Limits& limits, const std::string& exe,
                                     std::span<const std::string> args);

}  // namespace cage::cgroups
