// runtime/seccomp and src/seccomp: compiling policies, the argument guards, the in-process
// evaluator (checked against the kernel itself), the audit rewrite, profile parsing in both
// formats, the compiled-filter cache, and the audit log's record and summary.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/seccomp.hpp"
#include "sandbox/audit.hpp"
#include "seccomp/profile.hpp"
#include "temp_dir.hpp"

using namespace cage;
using seccomp::Filter;

namespace {

Filter builtin(const std::string& name)
{
    auto text = profile::builtin_seccomp_profile(name);
    REQUIRE(text);
    auto policy = profile::parse_seccomp_profile({"builtin:" + name, *text});
    REQUIRE(policy);
    auto filter = seccomp::compile(*policy);
    REQUIRE(filter);
    return *filter;
}

seccomp_data call(long nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0, std::uint64_t a2 = 0)
{
    seccomp_data data{};
    data.nr = static_cast<int>(nr);
    data.arch = AUDIT_ARCH_X86_64;
#ifdef __aarch64__
    data.arch = AUDIT_ARCH_AARCH64;
#endif
    data.args[0] = a0;
    data.args[1] = a1;
    data.args[2] = a2;
    return data;
}

std::uint32_t run(const Filter& filter, const seccomp_data& data)
{
    return seccomp::evaluate(seccomp::instructions(filter), data);
}

constexpr std::uint32_t allow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;

Expected<seccomp::Policy> parse(const std::string& text, const std::string& origin = "test.yaml")
{
    return profile::parse_seccomp_profile({origin, text});
}

std::string error_of(const std::string& text, const std::string& origin = "test.yaml")
{
    auto policy = parse(text, origin);
    REQUIRE_FALSE(policy);
    return policy.error().message();
}

}  // namespace

TEST_CASE("seccomp: the default profile allows what it lists and refuses the rest with EPERM")
{
    auto filter = builtin("default");
    CHECK(run(filter, call(SYS_read)) == allow);
    CHECK(run(filter, call(SYS_execve)) == allow);
    CHECK(run(filter, call(SYS_mount)) == eperm);
    CHECK(run(filter, call(SYS_ptrace)) == eperm);
    CHECK(run(filter, call(SYS_bpf)) == eperm);
    CHECK(run(filter, call(SYS_setns)) == eperm);
    CHECK(run(filter, call(SYS_acct)) == eperm);  // named nowhere would also be EPERM: the default
}

TEST_CASE("seccomp: newer calls and clone3 get ENOSYS")
{
    auto filter = builtin("default");
    CHECK(run(filter, call(SYS_clone3)) == enosys);
    CHECK(run(filter, call(1000)) == enosys);
    CHECK(run(filter, call(470)) == enosys);
}

TEST_CASE("seccomp: guards compare the low 32 bits the kernel uses")
{
    auto filter = builtin("default");
    CHECK(run(filter, call(SYS_ioctl, 0, TIOCSTI)) == eperm);
    CHECK(run(filter, call(SYS_ioctl, 0, 0xffffffff00000000ULL | TIOCSTI)) == eperm);
    CHECK(run(filter, call(SYS_ioctl, 0, TIOCLINUX)) == eperm);
    CHECK(run(filter, call(SYS_ioctl, 0, TIOCGWINSZ)) == allow);
    CHECK(run(filter, call(SYS_clone, CLONE_NEWUSER | SIGCHLD)) == eperm);
    CHECK(run(filter, call(SYS_clone, CLONE_NEWNET)) == eperm);
    CHECK(run(filter, call(SYS_clone, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND)) == allow);
    CHECK(run(filter, call(SYS_unshare, CLONE_NEWNS)) == eperm);
    CHECK(run(filter, call(SYS_unshare, CLONE_FILES)) == allow);
    CHECK(run(filter, call(SYS_personality, 0x20000)) == eperm);
    CHECK(run(filter, call(SYS_personality, 0xffffffff)) == allow);
    CHECK(run(filter, call(SYS_personality, 0)) == allow);
    CHECK(run(filter, call(SYS_socket, AF_NETLINK)) == eperm);
    CHECK(run(filter, call(SYS_socket, AF_INET6)) == allow);
    CHECK(run(filter, call(SYS_socket, 0x100000000ULL | AF_PACKET)) == eperm);
    CHECK(run(filter, call(SYS_socketpair, AF_INET)) == eperm);
    CHECK(run(filter, call(SYS_socketpair, AF_UNIX)) == allow);
}

#ifdef __x86_64__
TEST_CASE("seccomp: the i386 and x32 ABIs are refused")
{
    auto filter = builtin("default");
    auto i386 = call(20);
    i386.arch = AUDIT_ARCH_I386;
    CHECK(run(filter, i386) == eperm);
    CHECK(run(filter, call(0x40000000 | SYS_getpid)) == eperm);
    CHECK(seccomp::syscall_name(AUDIT_ARCH_I386, 20) == "i386:getpid");
    CHECK(seccomp::syscall_name(AUDIT_ARCH_X86_64, 0x40000000 | SYS_getpid) == "x32:getpid");
    CHECK(seccomp::syscall_name(AUDIT_ARCH_X86_64, SYS_mount) == "mount");
    CHECK(seccomp::syscall_name(AUDIT_ARCH_X86_64, 1000) == "#1000");
}
#endif

TEST_CASE("seccomp: strict refuses memfd_create, execveat and io_uring on top of default")
{
    auto filter = builtin("strict");
    CHECK(run(filter, call(SYS_memfd_create)) == eperm);
    CHECK(run(filter, call(SYS_execveat)) == eperm);
    CHECK(run(filter, call(SYS_io_uring_setup)) == eperm);
    CHECK(run(filter, call(SYS_read)) == allow);
    CHECK(run(filter, call(SYS_ioctl, 0, TIOCSTI)) == eperm);  // the base's guards stay
    CHECK(run(builtin("default"), call(SYS_memfd_create)) == allow);
}

TEST_CASE("seccomp: the audit rewrite turns errno returns into notifications, except ENOSYS")
{
    auto filter = builtin("default");
    auto audited = seccomp::with_notifications(filter);
    CHECK(audited.program.size() == filter.program.size());
    CHECK(run(audited, call(SYS_mount)) == SECCOMP_RET_USER_NOTIF);
    CHECK(run(audited, call(SYS_ioctl, 0, TIOCSTI)) == SECCOMP_RET_USER_NOTIF);
    CHECK(run(audited, call(SYS_clone3)) == enosys);
    CHECK(run(audited, call(SYS_read)) == allow);
}

TEST_CASE("seccomp: the evaluator agrees with the kernel")
{
    auto filter = builtin("default");
    struct Probe {
        long nr;
        std::uint64_t a0, a1, a2;
    };
    const Probe probes[] = {
        {SYS_getpid, 0, 0, 0},
        {SYS_setns, static_cast<std::uint64_t>(-1), 0, 0},
        {SYS_socket, AF_NETLINK, SOCK_RAW, 0},
        {SYS_socket, AF_UNIX, SOCK_STREAM, 0},
        {SYS_personality, 0x20000, 0, 0},
        {SYS_ioctl, static_cast<std::uint64_t>(-1), 0xffffffff00000000ULL | TIOCSTI, 0},
        {SYS_clone3, 0, 0, 0},
        {1000, 0, 0, 0},
    };
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || !seccomp::load(filter, false))
            ::_exit(2);
        for (const auto& probe : probes) {
            long rc = ::syscall(probe.nr, probe.a0, probe.a1, probe.a2, 0, 0, 0);
            int result = rc < 0 ? errno : 0;
            if (::write(fds[1], &result, sizeof(result)) != sizeof(result))
                ::_exit(3);
        }
        ::_exit(0);
    }
    ::close(fds[1]);
    for (const auto& probe : probes) {
        int kernel = -1;
        REQUIRE(::read(fds[0], &kernel, sizeof(kernel)) == sizeof(kernel));
        auto action = run(filter, call(probe.nr, probe.a0, probe.a1, probe.a2));
        CAPTURE(probe.nr);
        if ((action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO)
            CHECK(kernel == static_cast<int>(action & SECCOMP_RET_DATA));
        else
            CHECK(kernel != EPERM);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("seccomp: a filter that refuses what cage needs before execve is not loadable")
{
    auto policy = parse("allow: [read, write, close, exit_group, sendmsg]\n");
    REQUIRE(policy);
    auto filter = seccomp::compile(*policy);
    REQUIRE_FALSE(filter);
    CHECK(filter.error().what.find("refuses execve") != std::string::npos);
    Filter truncated = builtin("default");
    truncated.program.resize(truncated.program.size() - 3);
    CHECK_FALSE(seccomp::check_loadable(truncated));
}

TEST_CASE("profile: YAML errors name the line and the offending value")
{
    CHECK(error_of("allow:\n  - read\n  - wirte\n") == "bad seccomp profile: unknown system call 'wirte' [test.yaml:3]; check the name against syscalls(2)");
    CHECK(error_of("errno:\n  EPRM: [mount]\n").find("unknown errno 'EPRM' [test.yaml:2]") != std::string::npos);
    CHECK(error_of("allow: [read\n").find("[test.yaml:") != std::string::npos);
    CHECK(error_of("alow: [read]\n").find("unknown key 'alow'") != std::string::npos);
    CHECK(error_of("extends: nothing\n").find("unknown built-in profile 'nothing'") != std::string::npos);
    CHECK(error_of("guards:\n  - syscall: ioctl\n    arg: 7\n    deny: [1]\n").find("argument index must be 0-5 [test.yaml:3]") !=
          std::string::npos);
    CHECK(error_of("guards:\n  - syscall: ioctl\n    arg: 1\n    deny: [1]\n    allow_only: [2]\n")
              .find("exactly one of") != std::string::npos);
    CHECK(error_of("- read\n").find("expected a mapping") != std::string::npos);
}

TEST_CASE("profile: YAML rules, guards and extends")
{
    auto policy = parse("default_errno: EACCES\nallow: [read, getpid]\nerrno:\n  ENOSYS: [clone3]\n"
                        "guards:\n  - syscall: clone\n    arg: 0\n    deny_flags: [CLONE_NEWUSER, CLONE_NEWNET]\n    errno: EACCES\n");
    REQUIRE(policy);
    CHECK(policy->default_errnum == EACCES);
    REQUIRE(policy->guards.size() == 1);
    CHECK(policy->guards[0].values == std::vector<std::uint32_t>{CLONE_NEWUSER | CLONE_NEWNET});
    CHECK(policy->guards[0].errnum == EACCES);
    REQUIRE(policy->rules.size() == 2);
    CHECK(policy->rules[1].errnum == ENOSYS);

    // A profile that extends another overrides what the base said of the same calls.
    auto extended = parse("extends: default\nallow: [mount]\nerrno:\n  EACCES: [getpid]\n");
    REQUIRE(extended);
    auto filter = seccomp::compile(*extended);
    REQUIRE(filter);
    CHECK(run(*filter, call(SYS_mount)) == allow);
    CHECK(run(*filter, call(SYS_getpid)) == (SECCOMP_RET_ERRNO | EACCES));
    CHECK(run(*filter, call(SYS_read)) == allow);
}

TEST_CASE("profile: Docker/OCI JSON")
{
    const std::string json = R"({
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 38,
	"syscalls": [
		{ "names": ["read", "write", "close", "execve", "exit_group", "sendmsg", "no_such_call"], "action": "SCMP_ACT_ALLOW" },
		{ "names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
		{ "names": ["chdir"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
		{ "names": ["fchdir"], "action": "SCMP_ACT_ALLOW", "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
		{ "names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "99.0" } },
		{ "names": ["socket"], "action": "SCMP_ACT_ALLOW",
		  "args": [ { "index": 0, "value": 4294967294, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] }
	]
})";
    auto policy = parse(json, "p.json");
    REQUIRE(policy);
    CHECK(policy->default_errnum == ENOSYS);
    auto filter = seccomp::compile(*policy);
    REQUIRE(filter);
    CHECK(run(*filter, call(SYS_read)) == allow);
    CHECK(run(*filter, call(SYS_getcwd)) == (SECCOMP_RET_ERRNO | EACCES));
    CHECK(run(*filter, call(SYS_chdir)) == enosys);  // needs a capability cage never grants
    CHECK(run(*filter, call(SYS_fchdir)) == allow);  // excluded for a capability cage drops
    CHECK(run(*filter, call(SYS_getpid)) == enosys);  // needs a kernel newer than any
    CHECK(run(*filter, call(SYS_socket, AF_UNIX)) == allow);  // (1 & ~1) == 0
    CHECK(run(*filter, call(SYS_socket, AF_INET)) == enosys);

    CHECK(error_of("{\n \"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": []\n}", "p.json").find("defaultAction must be SCMP_ACT_ERRNO") != std::string::npos);
    CHECK(error_of("{\n \"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [,]\n}", "p.json").find("not valid JSON [p.json:3]") != std::string::npos);
    CHECK(error_of("{\n \"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n  {\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}", "p.json").find("unsupported action 'SCMP_ACT_NOTIFY' [p.json:4]") != std::string::npos);
}

TEST_CASE("profile: names are the built-in profiles or files")
{
    CHECK(profile::find_seccomp_profile("default"));
    CHECK(profile::find_seccomp_profile("strict"));
    auto unknown = profile::find_seccomp_profile("defualt");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message().find("use default, strict, unconfined") != std::string::npos);
    CHECK_FALSE(profile::find_seccomp_profile("/nonexistent/profile.yaml"));
}

TEST_CASE("profile cache: stored once, used after, and a damaged entry is compiled again")
{
    TempDir cache{"cage-unit-seccomp"};
    profile::ProfileText text{"test.yaml", "extends: default\nerrno:\n  EACCES: [getppid]\n"};
    auto first = profile::compiled_filter(text, cache.path);
    REQUIRE(first);
    std::vector<std::filesystem::path> entries;
    for (const auto& entry : std::filesystem::directory_iterator(cache.path + "/seccomp"))
        entries.push_back(entry.path());
    REQUIRE(entries.size() == 1);
    CHECK((std::filesystem::status(entries[0]).permissions() & std::filesystem::perms::others_read) == std::filesystem::perms::none);

    // A valid entry is what the next call returns: plant a different (valid) program under
    // the same key by corrupting one byte of the program and fixing nothing else: rejected.
    auto size = std::filesystem::file_size(entries[0]);
    {
        std::fstream file(entries[0], std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(size - 1));
        file.put('\x7f');
    }
    auto second = profile::compiled_filter(text, cache.path);
    REQUIRE(second);
    CHECK(second->program == first->program);
    std::filesystem::resize_file(entries[0], 100);
    auto third = profile::compiled_filter(text, cache.path);
    REQUIRE(third);
    CHECK(third->program == first->program);
    CHECK(std::filesystem::file_size(entries[0]) == size);

    // Another text is another key.
    profile::ProfileText other{"test.yaml", text.text + "# changed\n"};
    REQUIRE(profile::compiled_filter(other, cache.path));
    CHECK(std::distance(std::filesystem::directory_iterator(cache.path + "/seccomp"), {}) == 2);

    // A cache directory others can write is not trusted: neither read nor written.
    REQUIRE(::chmod((cache.path + "/seccomp").c_str(), 0777) == 0);
    std::filesystem::remove(entries[0]);
    REQUIRE(profile::compiled_filter(text, cache.path));
    CHECK_FALSE(std::filesystem::exists(entries[0]));
}

TEST_CASE("audit: one JSON record per refusal, and the summary line")
{
    seccomp::Denial denial;
    denial.syscall = "mount";
    denial.errnum = EPERM;
    denial.pid = 42;
    denial.command = "node\"x";
    denial.args[0] = 0x10;
    denial.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    auto record = nlohmann::json::parse(sandbox::audit_record(denial));
    CHECK(record["syscall"] == "mount");
    CHECK(record["errno"] == "EPERM");
    CHECK(record["pid"] == 42);
    CHECK(record["command"] == "node\"x");
    CHECK(record["time"] == "2023-11-14T22:13:20.123Z");
    CHECK(record["args"][0] == "0x10");

    CHECK(sandbox::refusal_summary({}, "box").empty());
    CHECK(sandbox::refusal_summary({{"mount", 2}, {"ptrace", 1}}, "box") ==
          "refused 3 syscalls: mount x2, ptrace x1 (see cage logs box)");
    CHECK(sandbox::refusal_summary({{"ptrace", 1}}, "b") == "refused 1 syscall: ptrace x1 (see cage logs b)");
    auto many = sandbox::refusal_summary({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}, {"f", 6}, {"g", 7}}, "x");
    CHECK(many == "refused 28 syscalls: g x7, f x6, e x5, d x4, c x3, and 2 more (see cage logs x)");
}
