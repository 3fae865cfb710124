// runtime/seccomp_compile and runtime/bpf: the compiled program answers every call exactly as
// the reference program (cage's checks + libseccomp's program) does, on every architecture
// cage builds for, and stays short and friendly to the kernel's action cache.
#include <doctest/doctest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <seccomp.h>

#include <cstdlib>
#include <set>
#include <utility>

#include "runtime/bpf.hpp"
#include "runtime/seccomp.hpp"
#include "seccomp/profile.hpp"

using namespace cage;
using seccomp::Filter;

namespace {

seccomp::Policy policy_of(const std::string& origin, const std::string& text)
{
    auto policy = profile::parse_seccomp_profile({origin, text});
    REQUIRE(policy);
    return *policy;
}

seccomp::Policy builtin_policy(const std::string& name)
{
    auto text = profile::builtin_seccomp_profile(name);
    REQUIRE(text);
    return policy_of("builtin:" + name, *text);
}

// The argument values worth trying: each guard's and each rule's values, with and without
// high bits the kernel would truncate, their neighbours, and a few others.
std::vector<std::uint64_t> argument_values(const seccomp::Policy& policy)
{
    std::set<std::uint64_t> values{0, 1, 2, 10, 0xffffffff, 0xffffffffffffffff, 0x100000000};
    auto add = [&](std::uint64_t value) {
        for (std::uint64_t v : {value, value + 1, value - 1, value | 0xffffffff00000000, value & 0xffffffff})
            values.insert(v);
    };
    for (const auto& guard : policy.guards)
        for (auto value : guard.values)
            add(value);
    for (const auto& rule : policy.rules)
        for (const auto& check : rule.args)
            add(check.value), add(check.mask), add(check.value | ~check.mask);
    return {values.begin(), values.end()};
}

// Every number up to well past the newest call, the same with the x32 bit, and the far end.
std::vector<std::uint32_t> call_numbers()
{
    std::vector<std::uint32_t> numbers;
    for (std::uint32_t number = 0; number < 1100; ++number) {
        numbers.push_back(number);
        numbers.push_back(number | seccomp::x32_syscall_bit);
    }
    for (std::uint32_t number : {0x3fffffffu, 0x7fffffffu, 0x80000000u, 0xbfffffffu, 0xc0000000u, 0xfffffffeu, 0xffffffffu,
                                 static_cast<std::uint32_t>(-10101), static_cast<std::uint32_t>(-101)})
        numbers.push_back(number);
    return numbers;
}

std::uint32_t run(const Filter& filter, const seccomp_data& data)
{
    return seccomp::evaluate(seccomp::instructions(filter), data);
}

// The program cage compiles for `arch`, and the reference (libseccomp's) one.
struct Programs {
    Filter compiled;
    Filter reference;
};

Programs compile_both(const seccomp::Policy& policy, std::uint32_t arch)
{
    auto compiled = seccomp::compile_for(policy, arch);
    auto reference = seccomp::compile_reference(policy, arch);
    REQUIRE(compiled);
    REQUIRE(reference);
    return {std::move(*compiled), std::move(*reference)};
}

// Compiles for `arch` both ways and compares the answers to every call: every number, from
// the native ABI and from the others, with every argument value in every argument.
void check_same_answers(const seccomp::Policy& policy, std::uint32_t arch)
{
    auto [compiled, reference] = compile_both(policy, arch);
    auto values = argument_values(policy);
    std::size_t differences = 0;
    for (std::uint32_t caller : {arch, static_cast<std::uint32_t>(AUDIT_ARCH_I386), static_cast<std::uint32_t>(AUDIT_ARCH_X86_64),
                                 static_cast<std::uint32_t>(AUDIT_ARCH_ARM), static_cast<std::uint32_t>(AUDIT_ARCH_AARCH64), 0u}) {
        for (auto number : call_numbers()) {
            for (auto value : values) {
                seccomp_data data{};
                data.arch = caller;
                data.nr = static_cast<int>(number);
                std::fill(std::begin(data.args), std::end(data.args), value);
                auto expected = run(reference, data);
                auto actual = run(compiled, data);
                if (expected != actual && ++differences <= 5) {
                    CAPTURE(caller);
                    CAPTURE(number);
                    CAPTURE(value);
                    CHECK(actual == expected);
                }
                if (caller != arch || number > 1100)
                    break;  // arguments matter only to native calls
            }
        }
    }
    CHECK(differences == 0);
}

constexpr std::uint32_t architectures[] = {SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64};

// The kernel (5.11 and later) runs a new filter once per call number with the arguments
// unknown, and calls it always allows skip the filter from then on. Its emulator knows only
// loads of nr and arch, JEQ/JGE/JGT/JSET with constants, JA, AND and constant returns; any
// other instruction on a call's path, or an argument load, and the call runs the filter
// every time (kernel/seccomp.c, seccomp_is_const_allow).
bool kernel_caches_allow(std::span<const seccomp::Instruction> program, std::uint32_t arch, std::uint32_t nr)
{
    std::uint32_t a = 0;
    for (std::size_t pc = 0; pc < program.size(); ++pc) {
        const auto& insn = program[pc];
        switch (insn.code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (insn.k != 0 && insn.k != 4)
                return false;
            a = insn.k == 0 ? nr : arch;
            break;
        case BPF_RET | BPF_K: return insn.k == SECCOMP_RET_ALLOW;
        case BPF_JMP | BPF_JA: pc += insn.k; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += a == insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += a >= insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JGT | BPF_K: pc += a > insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (a & insn.k) ? insn.jt : insn.jf; break;
        case BPF_ALU | BPF_AND | BPF_K: a &= insn.k; break;
        default: return false;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("seccomp compile: the built-in profiles answer every call as the reference does")
{
    for (auto arch : architectures) {
        CAPTURE(arch);
        check_same_answers(builtin_policy("default"), arch);
        check_same_answers(builtin_policy("strict"), arch);
    }
}

TEST_CASE("seccomp compile: rules that compare arguments are left to libseccomp, and agree")
{
    // Argument rules, a call named twice with different actions, a conditional and an
    // unconditional rule for one call, a guarded call with two guards, a guard on a call
    // that rules also compare.
    auto json = policy_of("p.json", R"({
	"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
	"syscalls": [
		{ "names": ["read", "write", "close", "execve", "exit_group", "sendmsg", "getpid"], "action": "SCMP_ACT_ALLOW" },
		{ "names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
		{ "names": ["socket"], "action": "SCMP_ACT_ALLOW",
		  "args": [ { "index": 0, "value": 4294967294, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] },
		{ "names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [ { "index": 2, "value": 4, "op": "SCMP_CMP_NE" } ] },
		{ "names": ["mmap"], "action": "SCMP_ACT_ALLOW" },
		{ "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [ { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
		{ "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [ { "index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ" } ] },
		{ "names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS" },
		{ "names": ["tgkill"], "action": "SCMP_ACT_TRAP" },
		{ "names": ["getuid"], "action": "SCMP_ACT_LOG" }
	]
})");
    auto yaml = policy_of("t.yaml", "extends: default\nunknown_errno: EACCES\nforeign_abi_errno: EINVAL\n"
                                    "guards:\n  - syscall: ioctl\n    arg: 0\n    allow_only: [0, 1, 2]\n"
                                    "  - syscall: clone\n    arg: 1\n    deny: [7]\n    errno: EACCES\n");
    auto guarded = json;
    guarded.guards.push_back({"socket", 1, seccomp::Guard::Kind::deny_values, {3, 5}, EACCES});
    for (auto arch : architectures) {
        CAPTURE(arch);
        check_same_answers(json, arch);
        check_same_answers(yaml, arch);
        check_same_answers(guarded, arch);
    }
}

TEST_CASE("seccomp compile: too many ranges for 8-bit jumps fall back to the reference program")
{
    seccomp::Policy alternating;
    seccomp::Rule rule;
    for (int number = 0; number < 600; number += 2)
        if (char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, number)) {
            rule.names.push_back(name);
            std::free(name);
        }
    alternating.rules.push_back(rule);
    alternating.ignore_unknown_names = true;
    auto [compiled, reference] = compile_both(alternating, SCMP_ARCH_X86_64);
    CHECK(compiled.program == reference.program);
}

TEST_CASE("seccomp compile: the default profile is a quarter of the reference's length")
{
    auto policy = builtin_policy("default");
    for (auto arch : architectures) {
        CAPTURE(arch);
        auto [compiled, reference] = compile_both(policy, arch);
        MESSAGE("instructions: " << seccomp::instructions(compiled).size() << " (reference " << seccomp::instructions(reference).size() << ")");
        CHECK(seccomp::instructions(compiled).size() * 4 <= seccomp::instructions(reference).size());
    }
}

TEST_CASE("seccomp compile: every call the kernel could cache as allowed before, it still can")
{
    auto policy = builtin_policy("default");
    for (auto arch : architectures) {
        CAPTURE(arch);
        auto [compiled, reference] = compile_both(policy, arch);
        std::size_t cached = 0;
        for (std::uint32_t nr = 0; nr < 1100; ++nr) {
            if (!kernel_caches_allow(seccomp::instructions(reference), arch, nr))
                continue;
            ++cached;
            CAPTURE(nr);
            CHECK(kernel_caches_allow(seccomp::instructions(compiled), arch, nr));
        }
        CHECK(cached > 200);
    }
}

TEST_CASE("bpf: labels resolve forward, and a conditional jump past 255 instructions is refused")
{
    bpf::Assembler code;
    auto yes = code.new_label(), no = code.new_label();
    code.emit(bpf::load_word(0));
    code.jump_if(BPF_JEQ, 7, yes, bpf::Assembler::next);
    code.place(no);
    code.emit(bpf::ret(1));
    code.place(yes);
    code.emit(bpf::ret(2));
    auto program = code.finish();
    REQUIRE(program);
    CHECK((*program)[1].jt == 1);
    CHECK((*program)[1].jf == 0);

    bpf::Assembler far;
    auto end = far.new_label();
    far.jump_if(BPF_JEQ, 0, end, bpf::Assembler::next);
    for (int i = 0; i < 256; ++i)
        far.emit(bpf::ret(0));
    far.place(end);
    far.emit(bpf::ret(1));
    CHECK_FALSE(far.finish());

    bpf::Assembler backwards;
    auto start = backwards.new_label();
    backwards.place(start);
    backwards.emit(bpf::ret(0));
    backwards.jump(start);
    CHECK_FALSE(backwards.finish());
}
