// runtime/cgroups: the driver ladder, cpu.max, controller lists, /proc/self/cgroup and
// flat-keyed files, the systemd-run command line; src/cli: sizes, CPUs and limit options.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "runtime/cgroups.hpp"
#include "runtime/cgroups_dir.hpp"
#include "runtime/fd.hpp"
#include "sandbox/sandbox.hpp"
#include "temp_dir.hpp"

using namespace cage::cgroups;
using Args = std::vector<std::string>;

TEST_CASE("cgroups: the ladder picks fs, systemd, v1 pids or none")
{
    HostFacts v1;
    CHECK(choose(v1).driver == Driver::none);
    CHECK(choose(v1).reason.find("cgroup v1") != std::string::npos);
    CHECK(choose(v1).reason.find("systemd.unified_cgroup_hierarchy=1") != std::string::npos);
    v1.own_delegated = v1.parent_delegated = v1.systemd_user = v1.v1_pids = true;  // rootless: nothing helps without v2
    CHECK(choose(v1).driver == Driver::none);
    v1.root = true;  // root with a v1 pids hierarchy: pids there, the reason for the rest
    CHECK(choose(v1).driver == Driver::v1_pids);
    CHECK(choose(v1).reason.find("systemd.unified_cgroup_hierarchy=1") != std::string::npos);
    v1.v1_pids = false;
    CHECK(choose(v1).driver == Driver::none);
    HostFacts both{.cgroup2 = true, .root = true, .v1_pids = true};  // cgroup v2 wins
    CHECK(choose(both).driver == Driver::fs);

    HostFacts root{.cgroup2 = true, .root = true};
    CHECK(choose(root).driver == Driver::fs);
    CHECK(choose(root).placement == Placement::top);

    HostFacts scope{.cgroup2 = true, .own_delegated = true, .own_only_us = true, .parent_delegated = true};
    CHECK(choose(scope).placement == Placement::split);  // a Delegate=yes scope holding only cage

    HostFacts shared{.cgroup2 = true, .own_delegated = true, .own_only_us = false, .parent_delegated = true};
    CHECK(choose(shared).placement == Placement::sibling);  // a shell shares our cgroup
    shared.parent_delegated = false;
    CHECK(choose(shared).driver == Driver::none);

    HostFacts user{.cgroup2 = true, .systemd_user = true};
    CHECK(choose(user).driver == Driver::systemd);
    user.in_scope = true;  // re-executed once already: never loop
    CHECK(choose(user).driver == Driver::none);
    CHECK(choose(user).reason.find("Delegate=yes") != std::string::npos);

    HostFacts lonely{.cgroup2 = true};
    CHECK(choose(lonely).driver == Driver::none);
    CHECK(choose(lonely).reason.find("no cgroup v2 subtree is delegated") != std::string::npos);
}

TEST_CASE("cgroups: cpu.max from a number of CPUs")
{
    CHECK(format_cpu_max(std::nullopt) == "max 100000");
    CHECK(format_cpu_max(1.0) == "100000 100000");
    CHECK(format_cpu_max(0.5) == "50000 100000");
    CHECK(format_cpu_max(2.25) == "225000 100000");
    CHECK(format_cpu_max(0.2) == "20000 100000");
    CHECK(format_cpu_max(0.001) == "1000 100000");   // the kernel's minimum quota
    CHECK(format_cpu_max(0.000001) == "1000 100000");
    CHECK(format_cpu_max(0.333333) == "33333 100000");
}

TEST_CASE("cgroups: wanted controllers follow the limits")
{
    cage::runtime::Limits limits;
    CHECK(wanted_controllers(limits) == std::vector<std::string>{"memory", "pids"});  // the defaults
    limits.cpus = 1.5;
    limits.io_weight = 50;
    CHECK(wanted_controllers(limits) == std::vector<std::string>{"memory", "pids", "cpu", "io"});
    cage::runtime::Limits none;
    none.memory.reset();
    none.pids.reset();
    CHECK(wanted_controllers(none).empty());
    none.swap = 0;
    CHECK(wanted_controllers(none) == std::vector<std::string>{"memory"});
}

TEST_CASE("cgroups: controller lists, own cgroup, keyed values, paths")
{
    CHECK(lists_controller("cpuset cpu io memory pids\n", "cpu"));
    CHECK(lists_controller("cpuset cpu io memory pids\n", "pids"));
    CHECK_FALSE(lists_controller("cpuset io memory\n", "cpu"));
    CHECK_FALSE(lists_controller("", "memory"));
    CHECK_FALSE(lists_controller("memoryx pids", "memory"));

    CHECK(own_cgroup("0::/user.slice/user-1000.slice/session-1.scope\n") == "/user.slice/user-1000.slice/session-1.scope");
    CHECK(own_cgroup("12:pids:/\n4:memory:/x\n0::/\n") == "/");
    CHECK(own_cgroup("9:name=systemd:/\n4:memory:/x\n") == std::nullopt);
    CHECK(own_cgroup("") == std::nullopt);

    const char* hybrid = "12:pids:/\n4:memory:/process_api/4ad4\n3:cpu,cpuacct:/a b\n1:name=systemd:/\n0::/\n";
    CHECK(own_v1_cgroup(hybrid, "pids") == "/");
    CHECK(own_v1_cgroup(hybrid, "memory") == "/process_api/4ad4");
    CHECK(own_v1_cgroup(hybrid, "cpuacct") == "/a b");
    CHECK(own_v1_cgroup(hybrid, "cpu") == "/a b");
    CHECK(own_v1_cgroup(hybrid, "io") == std::nullopt);
    CHECK(own_v1_cgroup("0::/user.slice\n", "pids") == std::nullopt);  // the v2 line names no controller
    CHECK(own_v1_cgroup("8:pids\n8:pids:\n", "pids") == std::nullopt);  // malformed lines
    CHECK(own_v1_cgroup("", "pids") == std::nullopt);

    const char* events = "low 0\nhigh 0\nmax 35\noom 1\noom_kill 1\noom_group_kill 1\n";
    CHECK(keyed_value(events, "oom_kill") == 1u);
    CHECK(keyed_value(events, "max") == 35u);
    CHECK(keyed_value(events, "oom") == 1u);
    CHECK(keyed_value(events, "missing") == std::nullopt);
    CHECK(keyed_value("populated 0\nfrozen 0\n", "populated") == 0u);
    CHECK(keyed_value("nr_throttled x\n", "nr_throttled") == std::nullopt);

    CHECK(path_of("/") == "/sys/fs/cgroup");
    CHECK(path_of("/delegated/init") == "/sys/fs/cgroup/delegated/init");
    CHECK(parent_of("/delegated/init") == "/delegated");
    CHECK(parent_of("/delegated") == "/");
    CHECK(parent_of("/") == "/");
}

TEST_CASE("cgroups: the systemd-run command asks for a delegated user scope")
{
    Args args{"run", "--rootfs", "/r", "--", "sh", "-c", "echo hi"};
    auto command = scope_command("/usr/bin/systemd-run", "/usr/bin/cage", args, 42);
    CHECK(command == Args{"/usr/bin/systemd-run", "--user", "--scope", "--quiet", "--collect", "--property=Delegate=yes",
                          "--unit=cage-42", "--", "/usr/bin/cage", "run", "--rootfs", "/r", "--", "sh", "-c", "echo hi"});
}

TEST_CASE("options: sizes are binary, with or without a unit")
{
    using cage::cli::parse_size;
    CHECK(*parse_size("1") == 1u);
    CHECK(*parse_size("4096") == 4096u);
    CHECK(*parse_size("1k") == 1024u);
    CHECK(*parse_size("512M") == 512u << 20);
    CHECK(*parse_size("512m") == 512u << 20);
    CHECK(*parse_size("4G") == 4ull << 30);
    CHECK(*parse_size("4GiB") == 4ull << 30);
    CHECK(*parse_size("4GB") == 4ull << 30);
    CHECK(*parse_size("4gb") == 4ull << 30);
    CHECK(*parse_size("1.5G") == 3ull << 29);
    CHECK(*parse_size("2T") == 2ull << 40);
    for (const std::string bad : {"", "0", "0M", "M", "-1G", "+1G", "1.G", ".5G", "1..5G", "1.2.3G", "12Q", "1 G", "1G ",
                                  "1Gi", "1GiBs", "0x10", "1e3", "99999999999T", "0.1"}) {
        CAPTURE(bad);
        auto size = parse_size(bad);
        REQUIRE_FALSE(size.has_value());
        CHECK(size.error().exit_code == 125);
    }
}

TEST_CASE("options: CPUs are positive decimals")
{
    using cage::cli::parse_cpus;
    CHECK(*parse_cpus("1") == 1.0);
    CHECK(*parse_cpus("0.5") == 0.5);
    CHECK(*parse_cpus("2.25") == 2.25);
    CHECK(*parse_cpus("4096") == 4096.0);
    for (const std::string bad : {"", "0", "0.0", "-1", "abc", "1.5x", "4097", "1e2", " 1", "nan", "inf"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_cpus(bad).has_value());
    }
}

TEST_CASE("options: sizes are described for people")
{
    using cage::cli::describe_amount;
    using cage::cli::describe_size;
    CHECK(describe_size(4ull << 30) == "4 GiB");
    CHECK(describe_size(64ull << 20) == "64 MiB");
    CHECK(describe_size(1536ull << 20) == "1536 MiB");
    CHECK(describe_size(3072) == "3 KiB");
    CHECK(describe_size(1000) == "1000 bytes");
    CHECK(describe_size(1) == "1 byte");
    CHECK(describe_amount(4ull << 30) == "4.0 GiB");
    CHECK(describe_amount(67108864) == "64.0 MiB");
    CHECK(describe_amount(39007436) == "37.2 MiB");
    CHECK(describe_amount(1536) == "1.5 KiB");
    CHECK(describe_amount(10) == "10 bytes");
}

TEST_CASE("options: limit options fill the Limits and mark what was asked for")
{
    auto parsed = cage::cli::parse_run_options(Args{"--rootfs", "/r", "--", "true"});
    REQUIRE(parsed.has_value());
    CHECK(parsed->limits.memory == 4ull << 30);
    CHECK(parsed->limits.pids == 512u);
    CHECK_FALSE(parsed->limits.cpus.has_value());
    CHECK_FALSE(parsed->limits.swap.has_value());
    CHECK_FALSE(parsed->limits.require_memory);
    CHECK_FALSE(parsed->limits.require_pids);

    parsed = cage::cli::parse_run_options(
        Args{"--memory", "1G", "--memory-swap=0", "--pids=64", "--cpus", "1.5", "--io-weight", "300", "--rootfs", "/r", "true"});
    REQUIRE(parsed.has_value());
    CHECK(parsed->limits.memory == 1ull << 30);
    CHECK(parsed->limits.swap == 0u);
    CHECK(parsed->limits.pids == 64u);
    CHECK(parsed->limits.cpus == 1.5);
    CHECK(parsed->limits.io_weight == 300u);
    CHECK(parsed->limits.require_memory);
    CHECK(parsed->limits.require_pids);
    CHECK(parsed->limits.require_cpus);
    CHECK(parsed->limits.require_io_weight);
    CHECK_FALSE(parsed->best_effort_limits);

    parsed = cage::cli::parse_run_options(Args{"--memory", "max", "--pids", "max", "--cpus", "max", "--rootfs", "/r", "true"});
    REQUIRE(parsed.has_value());
    CHECK_FALSE(parsed->limits.memory.has_value());
    CHECK_FALSE(parsed->limits.pids.has_value());
    CHECK_FALSE(parsed->limits.cpus.has_value());
    CHECK_FALSE(parsed->limits.require_memory);  // "no limit" needs no cgroup

    parsed = cage::cli::parse_run_options(Args{"--best-effort-limits", "--pids", "9", "--rootfs", "/r", "true"});
    REQUIRE(parsed.has_value());
    CHECK(parsed->best_effort_limits);

    for (const Args& bad : {Args{"--memory", "0", "--rootfs", "/r", "true"}, Args{"--pids", "0", "--rootfs", "/r", "true"},
                            Args{"--io-weight", "10001", "--rootfs", "/r", "true"}, Args{"--cpus", "-1", "--rootfs", "/r", "true"},
                            Args{"--io-weight", "max", "--rootfs", "/r", "true"}, Args{"--memory", "--rootfs", "/r", "true"}}) {
        CAPTURE(bad[0]);
        CAPTURE(bad[1]);
        CHECK_FALSE(cage::cli::parse_run_options(bad).has_value());
    }
}

// The janitor of a group removes it by name once cage is gone; by then a later start of the
// same pid (run()'s fallback, or the cage it re-executed) may have made its own group of
// that name. A plain directory stands in for the cgroup: removal is the same rmdir.
TEST_CASE("cgroups: a janitor removes only the group it was started for, not a later one of its name")
{
    TempDir parent_dir{"cage-unit-cgroups"};
    cage::UniqueFd parent(::open(parent_dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(parent);
    REQUIRE(make_group(parent.get(), "cage-42"));
    cage::UniqueFd first_dir(::openat(parent.get(), "cage-42", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto first = group_id(first_dir.get());
    REQUIRE(first);
    // The first group is gone from its name (kept under another, so that the second cannot
    // get its inode number back) and a second one takes the name.
    REQUIRE(::renameat(parent.get(), "cage-42", parent.get(), "first") == 0);
    REQUIRE(make_group(parent.get(), "cage-42"));
    CHECK(remove_group(parent.get(), "cage-42", first));
    CHECK(std::filesystem::is_directory(parent_dir / "cage-42"));  // the later group stays
    cage::UniqueFd second_dir(::openat(parent.get(), "cage-42", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    CHECK(remove_group(parent.get(), "cage-42", group_id(second_dir.get())));
    CHECK_FALSE(std::filesystem::exists(parent_dir / "cage-42"));  // its own one goes
    CHECK(remove_group(parent.get(), "cage-42", first));  // nothing there: counts as removed

    // Without an identity only an empty directory goes (nothing is killed).
    REQUIRE(make_group(parent.get(), "cage-43"));
    { std::FILE* f = std::fopen((parent_dir / "cage-43" / "x").c_str(), "w"); REQUIRE(f); std::fclose(f); }
    CHECK_FALSE(remove_group(parent.get(), "cage-43", std::nullopt));
    CHECK(std::filesystem::is_directory(parent_dir / "cage-43"));
    std::filesystem::remove(parent_dir / "cage-43" / "x");
    CHECK(remove_group(parent.get(), "cage-43", std::nullopt));
    CHECK_FALSE(std::filesystem::exists(parent_dir / "cage-43"));
}

namespace {
// Waits up to 5 s for PATH to appear; its content.
std::string wait_for_file(const std::filesystem::path& path)
{
    for (int i = 0; i < 500 && !std::filesystem::exists(path); ++i)
        ::usleep(10000);
    std::string content;
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        char buffer[64] = {};
        content.assign(buffer, std::fread(buffer, 1, sizeof(buffer) - 1, f));
        std::fclose(f);
    }
    return content;
}
}  // namespace

TEST_CASE("cgroups: the janitor cleans up after a cage that is gone, and does nothing after done()")
{
    TempDir dir{"cage-unit-janitor"};
    auto report = [&dir](const char* name) {
        // Written under another name, then renamed: wait_for_file must never see it empty.
        return [path = (dir / name).string()](std::optional<GroupId> group) {
            std::string partial = path + ".partial";
            if (std::FILE* f = std::fopen(partial.c_str(), "w")) {
                std::fprintf(f, "%s", group ? std::to_string(group->inode).c_str() : "none");
                std::fclose(f);
                std::rename(partial.c_str(), path.c_str());
            }
        };
    };
    {
        auto janitor = Janitor::start({}, report("gone-watched"));
        REQUIRE(janitor);
        janitor->watch(GroupId{1, 4242});
    }  // closed without done(): as when cage dies
    CHECK(wait_for_file(dir / "gone-watched") == "4242");
    {
        auto janitor = Janitor::start({}, report("gone-early"));
        REQUIRE(janitor);
    }  // cage died before the group existed: cleanup without an identity
    CHECK(wait_for_file(dir / "gone-early") == "none");
    {
        auto janitor = Janitor::start({}, report("done"));
        REQUIRE(janitor);
        janitor->watch(GroupId{1, 4243});
        janitor->done();
    }
    // Give it the time it took the others, then some: it must have exited without a word.
    ::usleep(300000);
    CHECK_FALSE(std::filesystem::exists(dir / "done"));
}
