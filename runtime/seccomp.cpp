#include "runtime/seccomp.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "runtime/util.hpp"

namespace cage::seccomp {
namespace {

// seccomp_data offsets (linux/seccomp.h).
constexpr std::uint32_t offset_nr = 0;
constexpr std::uint32_t offset_arch = 4;
constexpr std::uint32_t offset_args = 16;
// x32 system calls come in with the native x86_64 arch and this bit in the number.
constexpr std::uint32_t x32_bit = 0x40000000;

struct ContextDeleter {
    void operator()(void* context) const { seccomp_release(context); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Instruction statement(std::uint16_t code, std::uint32_t k)
{
    return {code, 0, 0, k};
}

Instruction jump(std::uint16_t op, std::uint32_t k, std::size_t jt, std::size_t jf)
{
    return {static_cast<std::uint16_t>(BPF_JMP | op | BPF_K), static_cast<std::uint8_t>(jt),
            static_cast<std::uint8_t>(jf), k};
}

Instruction load(std::uint32_t offset)
{
    return statement(BPF_LD | BPF_W | BPF_ABS, offset);
}

Instruction refuse(int errnum)
{
    return statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(errnum) & SECCOMP_RET_DATA));
}

std::uint32_t low_word_of_argument(unsigned index)
{
    // Little-endian: the low 32 bits of args[i] come first (x86_64 and aarch64 both are).
    return offset_args + 8 * index;
}

// One guard, as a self-contained block: with A = anything on entry, it either returns the
// refusal or falls through to the next instruction after the block.
std::vector<Instruction> guard_block(const Guard& guard, int number)
{
    std::vector<Instruction> block;
    auto n = guard.values.size();
    block.push_back(load(offset_nr));
    std::size_t rest = guard.kind == Guard::Kind::deny_flags ? 3 : guard.kind == Guard::Kind::deny_values ? n + 3 : n + 2;
    block.push_back(jump(BPF_JEQ, static_cast<std::uint32_t>(number), 0, rest));
    block.push_back(load(low_word_of_argument(guard.index)));
    switch (guard.kind) {
    case Guard::Kind::deny_values:  // any match -> refuse; none -> skip the refusal
        for (std::size_t i = 0; i < n; ++i)
            block.push_back(jump(BPF_JEQ, guard.values[i], n - i, 0));
        block.push_back(statement(BPF_JMP | BPF_JA, 1));
        break;
    case Guard::Kind::allow_only:  // any match -> past the refusal; none -> refuse
        for (std::size_t i = 0; i < n; ++i)
            block.push_back(jump(BPF_JEQ, guard.values[i], n - i, 0));
        break;
    case Guard::Kind::deny_flags:
        block.push_back(jump(BPF_JSET, guard.values.empty() ? 0 : guard.values[0], 0, 1));
        break;
    }
    block.push_back(refuse(guard.errnum));
    return block;
}

// Runs before libseccomp's program: unknown (newer) calls and the argument guards. Anything
// not native, and x32 calls, jump straight to libseccomp's program, which refuses them.
Expected<std::vector<Instruction>> prefix(const Policy& policy, int newest_known)
{
    std::vector<std::vector<Instruction>> blocks;
    for (const auto& guard : policy.guards) {
        auto number = syscall_number(guard.syscall);
        if (!number || *number < 0)
            return std::unexpected(plain_error("seccomp: a guard names an unknown system call", guard.syscall));
        if (guard.index > 5 || guard.values.empty())
            return std::unexpected(plain_error("seccomp: a guard needs an argument index 0-5 and values", guard.syscall));
        blocks.push_back(guard_block(guard, *number));
    }
    std::vector<Instruction> code;
    code.push_back(load(offset_arch));
    code.push_back(jump(BPF_JEQ, seccomp_arch_native(), 1, 0));
    code.push_back(statement(BPF_JMP | BPF_JA, 0));  // -> end, patched below
    code.push_back(load(offset_nr));
    code.push_back(jump(BPF_JGE, x32_bit, 0, 1));
    code.push_back(statement(BPF_JMP | BPF_JA, 0));  // -> end, patched below
    code.push_back(jump(BPF_JGT, static_cast<std::uint32_t>(newest_known), 0, 1));
    code.push_back(refuse(policy.unknown_errnum));
    for (const auto& block : blocks)
        code.insert(code.end(), block.begin(), block.end());
    code[2].k = static_cast<std::uint32_t>(code.size() - 3);
    code[5].k = static_cast<std::uint32_t>(code.size() - 6);
    return code;
}

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

Expected<void> add_rule(void* context, const Rule& rule, std::uint32_t default_action, bool ignore_unknown, int& newest)
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
        int number = seccomp_syscall_resolve_name(name.c_str());
        if (number == __NR_SCMP_ERROR) {
            if (ignore_unknown)
                continue;
            return std::unexpected(plain_error("seccomp: unknown system call", name, "check the name against syscalls(2)"));
        }
        if (number >= 0)
            newest = std::max(newest, number);
        if (action == default_action)
            continue;  // libseccomp refuses rules that repeat the default
        int rc = seccomp_rule_add_array(context, action, number, static_cast<unsigned>(args.size()), args.data());
        if (rc < 0)
            return std::unexpected(libseccomp_error("cannot add the rule", rc, name));
    }
    return {};
}

Expected<std::vector<std::uint8_t>> export_program(void* context)
{
    UniqueFd memory(::memfd_create("cage-seccomp", MFD_CLOEXEC));
    if (!memory)
        return std::unexpected(errno_error("seccomp: create a memfd for the program"));
    if (int rc = seccomp_export_bpf(context, memory.get()); rc < 0)
        return std::unexpected(libseccomp_error("cannot export the program", rc));
    ::lseek(memory.get(), 0, SEEK_SET);
    auto bytes = read_small_file(memory.get());
    if (!bytes)
        return std::unexpected(errno_error("seccomp: read the exported program"));
    return std::vector<std::uint8_t>(bytes->begin(), bytes->end());
}

std::uint32_t load_word(const seccomp_data& data, std::uint32_t offset)
{
    if (offset % 4 != 0 || offset + 4 > sizeof(data))
        return 0;
    std::uint32_t word;
    std::memcpy(&word, reinterpret_cast<const char*>(&data) + offset, 4);
    return word;
}

bool jump_taken(std::uint16_t op, std::uint32_t a, std::uint32_t operand)
{
    switch (op) {
    case BPF_JEQ: return a == operand;
    case BPF_JGT: return a > operand;
    case BPF_JGE: return a >= operand;
    case BPF_JSET: return (a & operand) != 0;
    default: return false;
    }
}

std::uint32_t alu(std::uint16_t op, std::uint32_t a, std::uint32_t operand)
{
    switch (op) {
    case BPF_ADD: return a + operand;
    case BPF_SUB: return a - operand;
    case BPF_MUL: return a * operand;
    case BPF_DIV: return operand ? a / operand : 0;
    case BPF_MOD: return operand ? a % operand : 0;
    case BPF_AND: return a & operand;
    case BPF_OR: return a | operand;
    case BPF_XOR: return a ^ operand;
    case BPF_LSH: return operand < 32 ? a << operand : 0;
    case BPF_RSH: return operand < 32 ? a >> operand : 0;
    case BPF_NEG: return -a;
    default: return a;
    }
}

}  // namespace

std::span<const Instruction> instructions(const Filter& filter)
{
    return {reinterpret_cast<const Instruction*>(filter.program.data()), filter.program.size() / sizeof(Instruction)};
}

std::optional<int> syscall_number(const std::string& name)
{
    int number = seccomp_syscall_resolve_name(name.c_str());
    if (number == __NR_SCMP_ERROR)
        return std::nullopt;
    return number;
}

std::string syscall_name(std::uint32_t arch, int number)
{
    std::uint32_t token = arch;
    std::string prefix;
    if (arch == AUDIT_ARCH_X86_64 && (static_cast<std::uint32_t>(number) & x32_bit)) {
        token = SCMP_ARCH_X32;
        prefix = "x32:";
    } else if (arch != seccomp_arch_native()) {
        prefix = arch == AUDIT_ARCH_I386 ? "i386:" : arch == AUDIT_ARCH_ARM ? "arm:" : "foreign:";
    }
    char* name = seccomp_syscall_resolve_num_arch(token, number);
    std::string result = prefix;
    if (name)
        result.append(name);
    else
        result.append("#").append(std::to_string(number));
    std::free(name);
    return result;
}

Expected<Filter> compile(const Policy& policy)
{
    std::uint32_t default_action = SCMP_ACT_ERRNO(static_cast<std::uint16_t>(policy.default_errnum));
    Context context(seccomp_init(default_action));
    if (!context)
        return std::unexpected(plain_error("seccomp: libseccomp could not start a filter"));
    seccomp_attr_set(context.get(), SCMP_FLTATR_ACT_BADARCH,
                     SCMP_ACT_ERRNO(static_cast<std::uint16_t>(policy.foreign_abi_errnum)));
    // cage sets no_new_privs itself, and the filter is loaded by cage, not by libseccomp.
    seccomp_attr_set(context.get(), SCMP_FLTATR_CTL_NNP, 0);
    // A binary tree of system call numbers: a few comparisons per call instead of hundreds.
    seccomp_attr_set(context.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

    int newest = 0;
    for (const auto& rule : policy.rules)
        CAGE_TRY(add_rule(context.get(), rule, default_action, policy.ignore_unknown_names, newest));
    for (const auto& guard : policy.guards)
        if (auto number = syscall_number(guard.syscall); number && *number >= 0)
            newest = std::max(newest, *number);

    auto head = CAGE_TRY(prefix(policy, newest));
    auto body = CAGE_TRY(export_program(context.get()));
    Filter filter;
    filter.program.resize(head.size() * sizeof(Instruction));
    std::memcpy(filter.program.data(), head.data(), filter.program.size());
    filter.program.insert(filter.program.end(), body.begin(), body.end());
    CAGE_TRY(check_loadable(filter));
    return filter;
}

std::uint32_t evaluate(std::span<const Instruction> program, const seccomp_data& data)
{
    std::uint32_t a = 0, x = 0;
    std::uint32_t scratch[BPF_MEMWORDS] = {};
    for (std::size_t pc = 0; pc < program.size(); ++pc) {
        const auto& insn = program[pc];
        std::uint32_t operand = BPF_SRC(insn.code) == BPF_X ? x : insn.k;
        switch (BPF_CLASS(insn.code)) {
        case BPF_LD:
            if (BPF_MODE(insn.code) == BPF_ABS)
                a = load_word(data, insn.k);
            else if (BPF_MODE(insn.code) == BPF_IMM)
                a = insn.k;
            else if (BPF_MODE(insn.code) == BPF_MEM && insn.k < BPF_MEMWORDS)
                a = scratch[insn.k];
            else if (BPF_MODE(insn.code) == BPF_LEN)
                a = sizeof(data);
            break;
        case BPF_LDX:
            if (BPF_MODE(insn.code) == BPF_MEM && insn.k < BPF_MEMWORDS)
                x = scratch[insn.k];
            else if (BPF_MODE(insn.code) == BPF_LEN)
                x = sizeof(data);
            else
                x = insn.k;
            break;
        case BPF_ST:
            if (insn.k < BPF_MEMWORDS)
                scratch[insn.k] = a;
            break;
        case BPF_STX:
            if (insn.k < BPF_MEMWORDS)
                scratch[insn.k] = x;
            break;
        case BPF_ALU: a = alu(BPF_OP(insn.code), a, operand); break;
        case BPF_JMP:
            if (BPF_OP(insn.code) == BPF_JA)
                pc += insn.k;
            else
                pc += jump_taken(BPF_OP(insn.code), a, operand) ? insn.jt : insn.jf;
            break;
        case BPF_RET: return BPF_RVAL(insn.code) == BPF_A ? a : insn.k;
        case BPF_MISC:
            if (BPF_MISCOP(insn.code) == BPF_TAX)
                x = a;
            else
                a = x;
            break;
        default: break;
        }
    }
    return SECCOMP_RET_KILL_PROCESS;  // the kernel refuses programs that run off the end
}

Filter with_notifications(const Filter& filter)
{
    Filter notifying = filter;
    auto* code = reinterpret_cast<Instruction*>(notifying.program.data());
    for (std::size_t i = 0; i < notifying.program.size() / sizeof(Instruction); ++i) {
        bool returns_errno = code[i].code == (BPF_RET | BPF_K) && (code[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO;
        if (returns_errno && (code[i].k & SECCOMP_RET_DATA) != ENOSYS)
            code[i].k = SECCOMP_RET_USER_NOTIF;
    }
    return notifying;
}

Expected<void> check_loadable(const Filter& filter)
{
    auto program = instructions(filter);
    if (filter.program.size() % sizeof(Instruction) != 0 || program.empty() || program.size() > BPF_MAXINSNS)
        return std::unexpected(plain_error("seccomp: the filter is longer than the kernel accepts (4096 instructions)"));
    // Between loading the filter and execve, cage passes the listener (sendmsg), closes it,
    // and execs; on failure it reports (sendmsg) and exits.
    for (const char* needed : {"execve", "sendmsg", "close", "exit_group"}) {
        seccomp_data data{};
        data.arch = seccomp_arch_native();
        data.nr = syscall_number(needed).value_or(-1);
        if ((evaluate(program, data) & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_ALLOW)
            return std::unexpected(plain_error(std::string("seccomp: the profile refuses ") + needed +
                                               ", which cage needs to start the command",
                                               {}, "allow it in the profile"));
    }
    return {};
}

Expected<UniqueFd> load(const Filter& filter, bool notify)
{
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(filter.program.size() / sizeof(Instruction));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<std::uint8_t*>(filter.program.data()));
    unsigned flags = notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0)
        return std::unexpected(errno_error("load the seccomp filter"));
    return UniqueFd(notify ? static_cast<int>(rc) : -1);
}

std::optional<Denial> answer_one(int listener, const Filter& original)
{
    seccomp_notif request{};
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) < 0)
        return std::nullopt;
    auto action = evaluate(instructions(original), request.data);
    int errnum = (action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO ? static_cast<int>(action & SECCOMP_RET_DATA) : EPERM;

    Denial denial;
    denial.syscall = syscall_name(request.data.arch, request.data.nr);
    denial.errnum = errnum;
    denial.pid = static_cast<int>(request.pid);
    std::copy(std::begin(request.data.args), std::end(request.data.args), std::begin(denial.args));
    denial.time = std::chrono::system_clock::now();
    if (auto comm = read_small_file("/proc/" + std::to_string(request.pid) + "/comm")) {
        denial.command = *comm;
        while (!denial.command.empty() && denial.command.back() == '\n')
            denial.command.pop_back();
    }
    // The comm read above names the right process only if the call is still pending.
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &request.id) < 0)
        denial.command.clear();

    seccomp_notif_resp response{};
    response.id = request.id;
    response.error = -errnum;
    (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
    return denial;
}

}  // namespace cage::seccomp
