// Policies to programs.
//
// libseccomp is the compiler of record: it resolves the names, and the reference program,
// cage's checks (architecture, unknown calls, argument guards) followed by libseccomp's own
// program for all the rules, defines what every call gets. Loaded as is, though, that program
// is about 420 instructions for the default profile, since libseccomp spends at least one
// comparison on every call a rule names. The kernel's cost of loading a filter grows with its
// length (it checks the program, converts it to eBPF, JIT-compiles it, and emulates it for
// every call number to fill its action cache): about 0.25 ms for those 420 instructions.
//
// So cage lays the dispatch out itself. Call numbers fall into ranges that get the same
// answer (x86_64 numbered related calls together, and the allowed ones are mostly
// neighbours), and a binary search over the ranges' bounds costs one comparison per range,
// the returns shared. Only calls whose answer depends on arguments in ways other than the
// guards (rules of Docker/OCI JSON profiles with "args") still go through libseccomp's
// program, compiled for those calls alone. tests/unit/test_seccomp.cpp checks the result
// against the reference for every call number, on x86_64, i386, x32 and aarch64.
#include <linux/audit.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "runtime/bpf.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/util.hpp"

namespace cage::seccomp {
namespace {

using bpf::Assembler;
using Label = Assembler::Label;

// seccomp_data offsets (linux/seccomp.h).
constexpr std::uint32_t offset_nr = 0;
constexpr std::uint32_t offset_arch = 4;
constexpr std::uint32_t offset_args = 16;

std::uint32_t errno_action(int errnum)
{
    return SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(errnum) & SECCOMP_RET_DATA);
}

std::uint32_t low_word_of_argument(unsigned index)
{
    // Little-endian: the low 32 bits of args[i] come first (x86_64 and aarch64 both are).
    return offset_args + 8 * index;
}

// One rule for one call, its name resolved.
struct Entry {
    std::string name;
    int native;  // libseccomp takes the native number and translates it for the target
    int number;  // on the target architecture; negative when the call does not exist there
    std::uint32_t action;
    std::vector<scmp_arg_cmp> args;
};

struct ResolvedGuard {
    const Guard* guard;
    std::uint32_t number;
};

// A policy with its names resolved for one architecture.
struct Plan {
    std::uint32_t arch;
    std::uint32_t default_action;
    std::uint32_t unknown_action;  // for the numbers above `newest`
    std::uint32_t foreign_action;
    std::uint32_t newest = 0;      // the highest number the policy names
    std::vector<Entry> entries;    // in the policy's order, less the rules that repeat the default
    std::vector<ResolvedGuard> guards;
};

std::uint32_t action_word(const Rule& rule)
{
    switch (rule.action) {
    case Action::allow: return SCMP_ACT_ALLOW;
    case Action::errno_: return SCMP_ACT_ERRNO(static_cast<std::uint16_t>(rule.errnum));
    case Action::kill_process: return SCMP_ACT_KILL_PROCESS;
    case Action::kill_thread: return SCMP_ACT_KILL_THREAD;
    case Action::trap: return SCMP_ACT_TRAP;
    case Action::log: return SCMP_ACT_LOG;
    }
    return SCMP_ACT_KILL_PROCESS;
}

scmp_compare compare_op(ArgumentCheck::Op op)
{
    switch (op) {
    case ArgumentCheck::Op::eq: return SCMP_CMP_EQ;
    case ArgumentCheck::Op::ne: return SCMP_CMP_NE;
    case ArgumentCheck::Op::lt: return SCMP_CMP_LT;
    case ArgumentCheck::Op::le: return SCMP_CMP_LE;
    case ArgumentCheck::Op::gt: return SCMP_CMP_GT;
    case ArgumentCheck::Op::ge: return SCMP_CMP_GE;
    case ArgumentCheck::Op::masked_eq: return SCMP_CMP_MASKED_EQ;
    }
    return SCMP_CMP_EQ;
}

Error libseccomp_error(const std::string& what, int rc, const std::string& name = {})
{
    errno = -rc;
    return errno_error("seccomp: " + what, name);
}

int number_on(std::uint32_t arch, const std::string& name)
{
    return arch == seccomp_arch_native() ? seccomp_syscall_resolve_name(name.c_str())
                                         : seccomp_syscall_resolve_name_arch(arch, name.c_str());
}

Expected<void> add_entries(Plan& plan, const Rule& rule, bool ignore_unknown)
{
    std::vector<scmp_arg_cmp> args;
    for (const auto& check : rule.args) {
        if (check.index > 5)
            return std::unexpected(plain_error("seccomp: argument index out of range 0-5", rule.names.empty() ? "" : rule.names[0]));
        bool masked = check.op == ArgumentCheck::Op::masked_eq;
        args.push_back({check.index, compare_op(check.op), masked ? check.mask : check.value, masked ? check.value : 0});
    }
    auto action = action_word(rule);
    for (const auto& name : rule.names) {
        int native = seccomp_syscall_resolve_name(name.c_str());
        if (native == __NR_SCMP_ERROR) {
            if (ignore_unknown)
                continue;
            return std::unexpected(plain_error("seccomp: unknown system call", name, "check the name against syscalls(2)"));
        }
        int number = number_on(plan.arch, name);
        if (number >= 0)
            plan.newest = std::max(plan.newest, static_cast<std::uint32_t>(number));
        if (action != plan.default_action)  // libseccomp refuses rules that repeat the default
            plan.entries.push_back({name, native, number, action, args});
    }
    return {};
}

Expected<void> add_guard(Plan& plan, const Guard& guard)
{
    int number = number_on(plan.arch, guard.syscall);
    if (number < 0)
        return std::unexpected(plain_error("seccomp: a guard names an unknown system call", guard.syscall));
    if (guard.index > 5 || guard.values.empty() || guard.values.size() > 250)
        return std::unexpected(plain_error("seccomp: a guard needs an argument index 0-5 and 1-250 values", guard.syscall));
    plan.newest = std::max(plan.newest, static_cast<std::uint32_t>(number));
    plan.guards.push_back({&guard, static_cast<std::uint32_t>(number)});
    return {};
}

Expected<Plan> plan_for(const Policy& policy, std::uint32_t arch)
{
    Plan plan{arch, errno_action(policy.default_errnum), errno_action(policy.unknown_errnum),
              errno_action(policy.foreign_abi_errnum), 0, {}, {}};
    for (const auto& rule : policy.rules)
        CAGE_TRY(add_entries(plan, rule, policy.ignore_unknown_names));
    for (const auto& guard : policy.guards)
        CAGE_TRY(add_guard(plan, guard));
    return plan;
}

struct ContextDeleter {
    void operator()(void* context) const { seccomp_release(context); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Expected<Context> new_context(const Plan& plan)
{
    Context context(seccomp_init(plan.default_action));
    if (!context)
        return std::unexpected(plain_error("seccomp: libseccomp could not start a filter"));
    seccomp_attr_set(context.get(), SCMP_FLTATR_ACT_BADARCH, plan.foreign_action);
    // cage sets no_new_privs itself, and the filter is loaded by cage, not by libseccomp.
    seccomp_attr_set(context.get(), SCMP_FLTATR_CTL_NNP, 0);
    // A binary tree of system call numbers: fewer comparisons per call, but more instructions
    // (the default profile's rules: 378, against 303 in a linear list). This program now
    // serves only argument rules and the reference; the dispatch does not depend on it.
    seccomp_attr_set(context.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (plan.arch != seccomp_arch_native()) {
        if (int rc = seccomp_arch_add(context.get(), plan.arch); rc < 0)
            return std::unexpected(libseccomp_error("cannot compile for this architecture", rc));
        seccomp_arch_remove(context.get(), SCMP_ARCH_NATIVE);
    }
    return context;
}

std::vector<Instruction> export_program(void* context, int& rc)
{
    UniqueFd memory(::memfd_create("cage-seccomp", MFD_CLOEXEC));
    if (!memory) {
        rc = -errno;
        return {};
    }
    if (rc = seccomp_export_bpf(context, memory.get()); rc < 0)
        return {};
    ::lseek(memory.get(), 0, SEEK_SET);
    auto bytes = read_small_file(memory.get());
    if (!bytes || bytes->size() % sizeof(Instruction) != 0) {
        rc = -EIO;
        return {};
    }
    std::vector<Instruction> program(bytes->size() / sizeof(Instruction));
    std::memcpy(program.data(), bytes->data(), bytes->size());
    return program;
}

// libseccomp's program for these rules alone.
Expected<std::vector<Instruction>> libseccomp_program(const Plan& plan, std::span<const Entry> entries)
{
    auto context = CAGE_TRY(new_context(plan));
    for (const auto& entry : entries) {
        int rc = seccomp_rule_add_array(context.get(), entry.action, entry.native, static_cast<unsigned>(entry.args.size()),
                                        entry.args.data());
        if (rc < 0)
            return std::unexpected(libseccomp_error("cannot add the rule", rc, entry.name));
    }
    int rc = 0;
    auto program = export_program(context.get(), rc);
    if (rc < 0)
        return std::unexpected(libseccomp_error("cannot export the program", rc));
    return program;
}

// One guard: A is loaded with the argument, then the call goes to `refuse` or on to `pass`.
void emit_guard(Assembler& code, const Guard& guard, Label refuse, Label pass)
{
    code.emit(bpf::load_word(low_word_of_argument(guard.index)));
    const auto& values = guard.values;
    for (std::size_t i = 0; i < values.size(); ++i) {
        bool last = i + 1 == values.size();
        switch (guard.kind) {
        case Guard::Kind::deny_values: code.jump_if(BPF_JEQ, values[i], refuse, last ? pass : Assembler::next); break;
        case Guard::Kind::allow_only: code.jump_if(BPF_JEQ, values[i], pass, last ? refuse : Assembler::next); break;
        case Guard::Kind::deny_flags: code.jump_if(BPF_JSET, values[0], refuse, pass); return;
        }
    }
}

Filter to_filter(std::span<const Instruction> program)
{
    Filter filter;
    auto bytes = std::as_bytes(program);
    filter.program.resize(bytes.size());
    std::memcpy(filter.program.data(), bytes.data(), bytes.size());
    return filter;
}

// cage's checks, then libseccomp's program for every rule. The checks: a call that is not
// native, or an x32 call, goes straight to libseccomp's program, which refuses it; numbers
// above the newest named get unknown_action; then each guard in turn.
Expected<Filter> reference_program(const Plan& plan)
{
    auto rules = CAGE_TRY(libseccomp_program(plan, plan.entries));
    Assembler code;
    Label body = code.new_label(), native = code.new_label(), known = code.new_label();
    code.emit(bpf::load_word(offset_arch));
    code.jump_if(BPF_JEQ, plan.arch, native, Assembler::next);
    code.jump(body);
    code.place(native);
    code.emit(bpf::load_word(offset_nr));
    code.jump_if(BPF_JGE, x32_syscall_bit, Assembler::next, known);
    code.jump(body);
    code.place(known);
    Label named = code.new_label();
    code.jump_if(BPF_JGT, plan.newest, Assembler::next, named);
    code.emit(bpf::ret(plan.unknown_action));
    code.place(named);
    for (const auto& [guard, number] : plan.guards) {
        Label refuse = code.new_label(), pass = code.new_label();
        code.emit(bpf::load_word(offset_nr));
        code.jump_if(BPF_JEQ, number, Assembler::next, pass);
        emit_guard(code, *guard, refuse, pass);
        code.place(refuse);
        code.emit(bpf::ret(errno_action(guard->errnum)));
        code.place(pass);
    }
    code.place(body);
    code.emit(rules);
    auto program = code.finish();
    if (!program)
        return std::unexpected(plain_error("seccomp: the filter's guards are too long"));
    return to_filter(*program);
}

// What each number up to the newest gets when the answer does not depend on the arguments:
// its rule's action, or the default. Empty where it does (rules that compare arguments, or
// several rules with differing actions for one call): libseccomp's program decides those.
std::vector<std::optional<std::uint32_t>> fixed_actions(const Plan& plan)
{
    std::vector<std::optional<std::uint32_t>> actions(plan.newest + 1, plan.default_action);
    std::vector<bool> named(plan.newest + 1, false);
    for (const auto& entry : plan.entries) {
        if (entry.number < 0)
            continue;  // not a call on this architecture: libseccomp drops the rule too
        auto& action = actions[static_cast<std::size_t>(entry.number)];
        bool first = !named[static_cast<std::size_t>(entry.number)];
        named[static_cast<std::size_t>(entry.number)] = true;
        if (!entry.args.empty() || (!first && action != entry.action))
            action.reset();
        else
            action = entry.action;
    }
    return actions;
}

// The labels of a dispatch program's shared returns, one per action.
class Returns {
public:
    explicit Returns(Assembler& code) : code_(code) {}
    Label operator()(std::uint32_t action)
    {
        auto [it, fresh] = labels_.try_emplace(action, 0);
        if (fresh)
            it->second = code_.new_label();
        return it->second;
    }
    void emit() const
    {
        for (auto [action, label] : labels_) {
            code_.place(label);
            code_.emit(bpf::ret(action));
        }
    }

private:
    Assembler& code_;
    std::map<std::uint32_t, Label> labels_;
};

// A guarded call's checks, in the policy's order, ending at the call's own answer.
struct GuardChain {
    Label entry;
    Label answer;
    std::vector<const Guard*> guards;
};

void emit_guard_chain(Assembler& code, Returns& returns, const GuardChain& chain)
{
    code.place(chain.entry);
    for (std::size_t i = 0; i < chain.guards.size(); ++i) {
        bool last = i + 1 == chain.guards.size();
        Label pass = last ? chain.answer : code.new_label();
        emit_guard(code, *chain.guards[i], returns(errno_action(chain.guards[i]->errnum)), pass);
        if (!last)
            code.place(pass);
    }
}

// The ranges of the whole 32-bit number space: the numbers up to the newest as `target`
// says, then the unknown ones, then numbers no call has. Those get what libseccomp's program
// gives them: on x86_64 a number with the x32 bit is another ABI's, except -1, which the
// kernel uses for "skip this call" (a tracer's) and which libseccomp lets through to its
// rules, where none matches; elsewhere, the default.
template <typename Target>
std::vector<bpf::Range> number_ranges(const Plan& plan, Returns& returns, Target target)
{
    std::vector<bpf::Range> ranges;
    auto add = [&](std::uint32_t first, Label label) {
        if (ranges.empty() || ranges.back().target != label)
            ranges.push_back({first, label});
    };
    for (std::uint32_t number = 0; number <= plan.newest; ++number)
        add(number, target(number));
    add(plan.newest + 1, returns(plan.unknown_action));
    if (plan.arch == SCMP_ARCH_X86_64) {
        add(x32_syscall_bit, returns(plan.foreign_action));
        add(0xffffffff, returns(plan.default_action));
    } else {
        add(x32_syscall_bit, returns(plan.default_action));
    }
    return ranges;
}

// The arch check, the binary search over number ranges, the guards of guarded calls, the
// shared returns, and libseccomp's program for the calls it decides. Nothing when the
// ranges are too many for 8-bit jumps.
std::optional<std::vector<Instruction>> dispatch_program(const Plan& plan, std::span<const std::optional<std::uint32_t>> actions,
                                                         std::span<const Instruction> by_arguments)
{
    Assembler code;
    Returns returns(code);
    Label libseccomp = code.new_label();
    std::map<std::uint32_t, GuardChain> chains;
    for (const auto& [guard, number] : plan.guards) {
        auto [it, fresh] = chains.try_emplace(number);
        if (fresh)
            it->second = {code.new_label(), actions[number] ? returns(*actions[number]) : libseccomp, {}};
        it->second.guards.push_back(guard);
    }
    auto target = [&](std::uint32_t number) {
        if (auto chain = chains.find(number); chain != chains.end())
            return chain->second.entry;
        return actions[number] ? returns(*actions[number]) : libseccomp;
    };
    auto ranges = number_ranges(plan, returns, target);

    code.emit(bpf::load_word(offset_arch));
    code.jump_if(BPF_JEQ, plan.arch, Assembler::next, returns(plan.foreign_action));
    code.emit(bpf::load_word(offset_nr));
    bpf::branch_on_ranges(code, ranges);
    for (const auto& [number, chain] : chains)
        emit_guard_chain(code, returns, chain);
    returns.emit();
    code.place(libseccomp);
    code.emit(by_arguments);
    return code.finish();
}

}  // namespace

Expected<Filter> compile_reference(const Policy& policy, std::uint32_t arch)
{
    return reference_program(CAGE_TRY(plan_for(policy, arch)));
}

Expected<Filter> compile_for(const Policy& policy, std::uint32_t arch)
{
    auto plan = CAGE_TRY(plan_for(policy, arch));
    auto actions = fixed_actions(plan);
    std::vector<Entry> by_arguments;
    std::ranges::copy_if(plan.entries, std::back_inserter(by_arguments),
                         [&](const Entry& entry) { return entry.number >= 0 && !actions[static_cast<std::size_t>(entry.number)]; });
    std::vector<Instruction> rules;
    if (!by_arguments.empty())
        rules = CAGE_TRY(libseccomp_program(plan, by_arguments));
    if (auto program = dispatch_program(plan, actions, rules))
        return to_filter(*program);
    // More ranges than classic BPF's short jumps can cross (no profile cage ships comes near):
    // the reference program is as correct, only longer.
    return reference_program(plan);
}

Expected<Filter> compile(const Policy& policy)
{
    auto filter = CAGE_TRY(compile_for(policy, seccomp_arch_native()));
    CAGE_TRY(check_loadable(filter));
    return filter;
}

}  // namespace cage::seccomp
