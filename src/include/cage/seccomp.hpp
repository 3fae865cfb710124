// libcage: seccomp policies, as plain data, and the filters compiled from them.
//
// A Policy says which system calls the command may make. compile() turns it into a classic
// BPF program once, in the caller (libseccomp resolves the names, and its program is the
// reference the compiled one agrees with); the runtime loads the program in the
// command's process as the very last step before execve, with no allocation and no library
// call in between. A compiled Filter is plain bytes, so it can be cached (the cage CLI keeps
// one per profile, keyed by a hash of the profile's text).
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <cage/error.hpp>

namespace cage::seccomp {

enum class Action {
    allow,
    errno_,        // fail the call with Rule::errnum
    kill_process,  // SIGSYS to the whole process
    kill_thread,
    trap,          // SIGSYS, catchable
    log,           // allow, and have the kernel log it
};

// A comparison of one 64-bit argument, as libseccomp makes it.
struct ArgumentCheck {
    enum class Op { eq, ne, lt, le, gt, ge, masked_eq };
    unsigned index = 0;  // 0..5
    Op op = Op::eq;
    std::uint64_t value = 0;
    std::uint64_t mask = 0;  // masked_eq only: (arg & mask) == value
};

// One rule: these system calls get this action, when every argument check holds.
struct Rule {
    std::vector<std::string> names;
    Action action = Action::allow;
    int errnum = EPERM;
    std::vector<ArgumentCheck> args;
};

// A check of the low 32 bits of one argument, made before any rule. The kernel truncates
// int-typed arguments (ioctl's request, clone's flags, socket's family), so a 64-bit
// comparison would let 0xffffffff00005412 through where the kernel sees TIOCSTI; a guard
// compares exactly what the kernel will use.
struct Guard {
    enum class Kind {
        deny_values,  // refused when the argument is one of values
        allow_only,   // refused unless the argument is one of values
        deny_flags,   // refused when the argument has any bit of values[0]
    };
    std::string syscall;
    unsigned index = 0;
    Kind kind = Kind::deny_values;
    std::vector<std::uint32_t> values;
    int errnum = EPERM;
};

struct Policy {
    // What a system call the policy names nowhere gets.
    int default_errnum = EPERM;
    // What a system call newer than every one the policy names gets: ENOSYS, so programs
    // fall back as they would on an older kernel.
    int unknown_errnum = ENOSYS;
    // Calls from another ABI than the native one (i386 and x32 on x86_64, arm on aarch64).
    int foreign_abi_errnum = EPERM;
    std::vector<Guard> guards;
    std::vector<Rule> rules;
    // Names libseccomp does not know are refused (a typo) unless this is set (profiles
    // written for other tools name calls of newer kernels).
    bool ignore_unknown_names = false;
};

// A compiled filter: the kernel's struct sock_filter array, as bytes.
struct Filter {
    std::vector<std::uint8_t> program;
    bool empty() const { return program.empty(); }
};

// Compiles for the native architecture. Errors name the offending rule.
Expected<Filter> compile(const Policy& policy);

// The filter of one of cage's built-in profiles, "default" or "strict" (see cage-profile(5)).
Expected<Filter> builtin_filter(const std::string& name);

// One refused system call, as the supervisor saw it.
struct Denial {
    std::string syscall;  // its name, or "#NR" for one libseccomp does not know
    int errnum = 0;       // what the call got
    std::uint64_t args[6] = {};
    int pid = 0;          // in the caller's PID namespace
    std::string command;  // the process's comm
    std::chrono::system_clock::time_point time;
};

}  // namespace cage::seccomp
