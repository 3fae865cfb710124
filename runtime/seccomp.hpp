// seccomp: policies compiled to BPF in the parent (libseccomp), loaded raw in the command's
// process right before execve, and refusals audited through SECCOMP_RET_USER_NOTIF.
//
// Auditing costs nothing on allowed calls: the loaded program is the compiled one with each
// "fail with errno E" return (E other than ENOSYS) turned into "ask the supervisor". The
// supervisor runs the original program on the call's data to learn E, records the refusal
// and answers with -E. ENOSYS answers ("not on this kernel") stay in the kernel, unaudited:
// programs probe for new calls all the time (glibc tries clone3 for every thread), and a log
// of those would bury the refusals that matter.
#pragma once

#include <cage/error.hpp>
#include <cage/seccomp.hpp>

#include <linux/seccomp.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "runtime/bpf.hpp"
#include "runtime/fd.hpp"

namespace cage::seccomp {

using Instruction = bpf::Instruction;

// x32 system calls come in with the native x86_64 arch and this bit in the number.
constexpr std::uint32_t x32_syscall_bit = 0x40000000;

// How compile() lays programs out; the filter cache keys on it, so a change here must bump it.
constexpr int program_format = 2;

// compile(), for one architecture (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...) and without the
// check that cage could start a command under the result: the native one is not the only
// one the tests look at.
Expected<Filter> compile_for(const Policy& policy, std::uint32_t arch);

// The program every compiled one must agree with, for every call: cage's checks (the
// architecture, calls newer than the policy, the guards) followed by libseccomp's own program
// for all the rules. Correct, but about four times as long (see seccomp_compile.cpp).
Expected<Filter> compile_reference(const Policy& policy, std::uint32_t arch);

std::span<const Instruction> instructions(const Filter& filter);

// Runs a filter on one call's data, as the kernel would, and returns the action word.
std::uint32_t evaluate(std::span<const Instruction> program, const seccomp_data& data);

// The filter with every auditable errno return replaced by SECCOMP_RET_USER_NOTIF.
Filter with_notifications(const Filter& filter);

// Refuses a filter the runtime cannot start a command under: too long for the kernel, or
// refusing a call cage itself makes between loading it and execve.
Expected<void> check_loadable(const Filter& filter);

// The native architecture's number for a system call name, if libseccomp knows the name.
std::optional<int> syscall_number(const std::string& name);
std::string syscall_name(std::uint32_t arch, int number);

// In the command's process, last before execve. With notify, returns the listener fd;
// otherwise an empty fd. Async-signal-safe apart from errors.
Expected<UniqueFd> load(const Filter& filter, bool notify);

// The supervisor's side of a listener: take one pending notification, answer it with the
// errno the original filter gives, and describe it. std::nullopt when the call is gone.
std::optional<Denial> answer_one(int listener, const Filter& original);

}  // namespace cage::seccomp
