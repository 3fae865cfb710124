#include "runtime/seccomp.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "runtime/util.hpp"

namespace cage::seccomp {
namespace {

std::uint32_t word_at(const seccomp_data& data, std::uint32_t offset)
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
    if (arch == AUDIT_ARCH_X86_64 && (static_cast<std::uint32_t>(number) & x32_syscall_bit)) {
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
                a = word_at(data, insn.k);
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
    // and execs; on failure it reports (sendmsg) and exits. The native numbers are constants:
    // asking libseccomp would cost a warm start its first name lookup (about 20 us).
    struct Needed {
        const char* name;
        long number;
    };
    for (auto [needed, number] : {Needed{"execve", SYS_execve}, Needed{"sendmsg", SYS_sendmsg}, Needed{"close", SYS_close},
                                  Needed{"exit_group", SYS_exit_group}}) {
        seccomp_data data{};
        data.arch = seccomp_arch_native();
        data.nr = static_cast<int>(number);
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
