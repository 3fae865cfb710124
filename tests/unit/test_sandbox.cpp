// src/sandbox: environment, names, the rootfs account lookup, and make_spec.
#include <doctest/doctest.h>

#include <cage/error.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "runtime/util.hpp"
#include "sandbox/home.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/warn_once.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace cage::sandbox;
using Env = std::vector<std::string>;

namespace {

const std::string default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void write_file(const fs::path& path, const std::string& content)
{
    std::ofstream out(path);
    out << content;
}

bool has_key(const Env& env, const std::string& key)
{
    return std::any_of(env.begin(), env.end(), [&](const std::string& entry) { return entry.starts_with(key + "="); });
}

const std::string passwd_text =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment line\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "dev:x:1000:1000:Developer,,,:/home/dev:/bin/bash\n"
    "relhome:x:7:7::relative:/bin/sh\n"
    "noname::8:8::/home/x:/bin/sh\n"
    ":x:9:9::/home/anon:/bin/sh\n"
    "short:x:10\n"
    "first:x:2000:2000::/home/first:/bin/sh\n"
    "second:x:2000:2000::/home/second:/bin/sh\n"
    "no-newline:x:3000:3000::/home/last:/bin/sh";

}  // namespace

TEST_CASE("sandbox: the host environment does not pass, except the allowed variables")
{
    Env host{"SECRET=s3cret", "ANTHROPIC_API_KEY=sk-x", "SSH_AUTH_SOCK=/run/ssh", "AWS_SECRET_ACCESS_KEY=a",
             "TERM=xterm", "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=C", "LC_MESSAGES=fr_FR", "TZ=UTC",
             "COLORTERM=truecolor", "PATH=/host/bin", "HOME=/root", "USER=root", "LD_PRELOAD=/evil.so",
             "NOEQUALS", "TERMINFO=/x", "LANGUAGE=fr"};
    auto env = build_environment(host, {}, "agent", "/home/agent");
    CHECK(env == Env{"COLORTERM=truecolor", "HOME=/home/agent", "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=C",
                     "LC_MESSAGES=fr_FR", default_path, "TERM=xterm", "TZ=UTC", "USER=agent"});
    for (const std::string key : {"SECRET", "ANTHROPIC_API_KEY", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY", "LD_PRELOAD",
                            "NOEQUALS", "TERMINFO", "LANGUAGE"}) {
        CAPTURE(key);
        CHECK_FALSE(has_key(env, key));
    }
    for (const auto& entry : env)
        CHECK(entry.find("s3cret") == std::string::npos);
}

TEST_CASE("sandbox: PATH, HOME and USER defaults")
{
    CHECK(build_environment({}, {}, "root", "/root") == Env{"HOME=/root", default_path, "USER=root"});
    CHECK(build_environment({"PATH=/host", "HOME=/h", "USER=u"}, {}, "agent", "/home/agent") ==
          Env{"HOME=/home/agent", default_path, "USER=agent"});
}

TEST_CASE("sandbox: --env K=V sets and overrides, --env K copies from the host when set there")
{
    Env host{"TERM=xterm", "FROM_HOST=yes", "EMPTY=", "PATH=/host/bin", "HOME=/root", "SECRET=s"};
    auto env = build_environment(host, {"A=1", "FROM_HOST", "ABSENT", "PATH=/custom", "TERM=dumb", "EQ=a=b",
                                        "EMPTY", "BLANK=", "USER=me"},
                                 "agent", "/home/agent");
    CHECK(env == Env{"A=1", "BLANK=", "EMPTY=", "EQ=a=b", "FROM_HOST=yes", "HOME=/home/agent", "PATH=/custom",
                     "TERM=dumb", "USER=me"});
    CHECK_FALSE(has_key(env, "ABSENT"));
    CHECK_FALSE(has_key(env, "SECRET"));

    // Copying a default from the host replaces the default.
    auto copied = build_environment(host, {"HOME", "PATH"}, "agent", "/home/agent");
    CHECK(copied == Env{"HOME=/root", "PATH=/host/bin", "TERM=xterm", "USER=agent"});
    // A variable absent on the host leaves the default alone.
    CHECK(build_environment({}, {"HOME"}, "agent", "/home/agent") ==
          Env{"HOME=/home/agent", default_path, "USER=agent"});
    // A host entry must be KEY=..., not merely start with KEY.
    CHECK_FALSE(has_key(build_environment({"FOOBAR=1", "FOO"}, {"FOO"}, "a", "/h"), "FOO"));
}

TEST_CASE("sandbox: the environment is sorted with each key once, the last --env winning")
{
    auto env = build_environment({"TERM=a", "LANG=b", "TZ=c"}, {"Z=1", "A=1", "Z=2", "TERM=x", "M=1", "A=3"},
                                 "agent", "/home/agent");
    CHECK(std::is_sorted(env.begin(), env.end()));
    std::set<std::string> keys;
    for (const auto& entry : env)
        CHECK(keys.insert(entry.substr(0, entry.find('='))).second);
    CHECK(std::find(env.begin(), env.end(), "Z=2") != env.end());
    CHECK(std::find(env.begin(), env.end(), "A=3") != env.end());
    CHECK(std::find(env.begin(), env.end(), "TERM=x") != env.end());
}

TEST_CASE("sandbox: passes_through: exact names and LC_*")
{
    for (const std::string name : {"TERM", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_TIME", "TZ", "COLORTERM"}) {
        CAPTURE(name);
        CHECK(passes_through(name));
    }
    for (const std::string name : {"", "SECRET", "PATH", "HOME", "USER", "SSH_AUTH_SOCK", "ANTHROPIC_API_KEY",
                             "GITHUB_TOKEN", "LD_PRELOAD", "term", "TERM2", "XTERM", "LANGX", "LC", "lc_all",
                             "TZDIR", "COLORTERMX"}) {
        CAPTURE(name);
        CHECK_FALSE(passes_through(name));
    }
}

TEST_CASE("sandbox: valid names: [A-Za-z0-9][A-Za-z0-9.-]{0,62}")
{
    for (const std::string good : {"a", "Z", "0", "cage-1a2b3c", "a.b-c", "A1.b2-C3", "9-"}) {
        CAPTURE(good);
        CHECK(valid_name(good));
    }
    CHECK(valid_name(std::string(63, 'a')));
    CHECK_FALSE(valid_name(std::string(64, 'a')));
    for (const std::string& bad : std::vector<std::string>{"", "-x", ".x", ".", "..", "a/b", "/", "a b", "a_b",
                                                           "a:b", "a\nb", "\xc3\xa9", std::string("a\0b", 3)}) {
        CAPTURE(bad);
        CHECK_FALSE(valid_name(bad));
    }
}

TEST_CASE("sandbox: random names are cage- and 6 hex digits, and differ")
{
    std::set<std::string> seen;
    for (int i = 0; i < 64; ++i) {
        auto name = random_name();
        CAPTURE(name);
        CHECK(name.size() == 11);
        CHECK(name.starts_with("cage-"));
        CHECK(name.find_first_not_of("0123456789abcdef", 5) == std::string::npos);
        CHECK(valid_name(name));
        seen.insert(name);
    }
    CHECK(seen.size() > 60);  // 24 random bits: a collision among 64 is rare
}

TEST_CASE("sandbox: data_dir")
{
    if (::getuid() == 0) {
        CHECK(data_dir() == "/var/lib/cage");
        return;
    }
    std::string saved_xdg = std::getenv("XDG_DATA_HOME") ? std::getenv("XDG_DATA_HOME") : "";
    bool had_xdg = std::getenv("XDG_DATA_HOME") != nullptr;
    ::setenv("XDG_DATA_HOME", "/xdg", 1);
    CHECK(data_dir() == "/xdg/cage");
    ::setenv("XDG_DATA_HOME", "relative", 1);  // not absolute: ignored, as the spec says
    CHECK(data_dir().ends_with("/.local/share/cage"));
    if (had_xdg)
        ::setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1);
    else
        ::unsetenv("XDG_DATA_HOME");
}

TEST_CASE("sandbox: the account comes from the rootfs /etc/passwd")
{
    TempDir root;
    fs::create_directories(root / "etc");
    write_file(root / "etc/passwd", passwd_text);
    auto dev = lookup_account(root.path, 1000);
    CHECK(dev.name == "dev");
    CHECK(dev.home == "/home/dev");
    auto root_account = lookup_account(root.path, 0);
    CHECK(root_account.name == "root");
    CHECK(root_account.home == "/root");
    CHECK(lookup_account(root.path, 1).home == "/usr/sbin");
    CHECK(lookup_account(root.path, 2000).name == "first");  // the first entry wins
    CHECK(lookup_account(root.path, 3000).home == "/home/last");
    // Entries without a name or with a relative home are not usable.
    for (std::uint32_t uid : {7U, 9U, 10U}) {
        CAPTURE(uid);
        auto fallback = lookup_account(root.path, uid);
        CHECK(fallback.name == "agent");
        CHECK(fallback.home == "/home/agent");
    }
    CHECK(lookup_account(root.path, 8).name == "noname");  // an empty password field is fine
}

TEST_CASE("sandbox: without an entry the account defaults to agent or root")
{
    TempDir root;
    fs::create_directories(root / "etc");
    write_file(root / "etc/passwd", "dev:x:1000:1000::/home/dev:/bin/sh\n");
    auto missing = lookup_account(root.path, 4242);
    CHECK(missing.name == "agent");
    CHECK(missing.home == "/home/agent");
    auto root_default = lookup_account(root.path, 0);
    CHECK(root_default.name == "root");
    CHECK(root_default.home == "/root");

    TempDir empty;  // no /etc/passwd at all
    CHECK(lookup_account(empty.path, 1000).name == "agent");
    CHECK(lookup_account(empty.path, 1000).home == "/home/agent");
    CHECK(lookup_account(empty.path, 0).name == "root");
    CHECK(lookup_account("/nonexistent/rootfs", 0).home == "/root");
    CHECK(lookup_account("/nonexistent/rootfs", 1000).home == "/home/agent");

    fs::create_directories(empty / "etc/passwd");  // a directory, not a file
    CHECK(lookup_account(empty.path, 1000).name == "agent");
}

TEST_CASE("sandbox: /etc/passwd symlinks are resolved inside the rootfs, never on the host")
{
    TempDir root;
    fs::create_directories(root / "etc");
    fs::create_directories(root / "data");
    write_file(root / "data/passwd", "inroot:x:0:0::/inroot:/bin/sh\nuser:x:1000:1000::/home/inroot:/bin/sh\n");
    // /etc/passwd -> /../../etc/passwd resolves to itself inside the rootfs: a loop, so the
    // default account. Resolved on the host it would be the host's /etc/passwd, where uid 1
    // is daemon on Debian.
    fs::create_symlink("/../../etc/passwd", root / "etc/passwd");
    auto looped = lookup_account(root.path, 1);
    CHECK(looped.name == "agent");
    CHECK(looped.home == "/home/agent");

    fs::remove(root / "etc/passwd");
    fs::create_symlink("/../../../data/passwd", root / "etc/passwd");
    CHECK(lookup_account(root.path, 0).name == "inroot");
    CHECK(lookup_account(root.path, 1000).home == "/home/inroot");

    fs::remove(root / "etc/passwd");
    fs::create_symlink("../../../../../../../../data/passwd", root / "etc/passwd");
    CHECK(lookup_account(root.path, 0).name == "inroot");

    // A whole /etc that is an absolute link resolves inside the rootfs too.
    fs::remove_all(root / "etc");
    fs::create_directories(root / "hostetc");
    write_file(root / "hostetc/passwd", "twin:x:0:0::/twin:/bin/sh\n");
    fs::create_symlink("/hostetc", root / "etc");
    CHECK(lookup_account(root.path, 0).name == "twin");
}

// A rootfs is untrusted input. If its /etc/passwd is a FIFO, open(O_RDONLY) blocks until a
// writer appears: `cage run` hangs in make_spec, on the host, before any namespace exists.
// The lookup must not block (open with O_NONBLOCK, or accept only regular files).
TEST_CASE("sandbox: a FIFO as /etc/passwd does not hang the lookup")
{
    TempDir root;
    fs::create_directories(root / "etc");
    REQUIRE(::mkfifo((root / "etc/passwd").c_str(), 0644) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // The default action of SIGALRM ends the child: a hang is reported, not suffered.
        itimerval half_second{};
        half_second.it_value.tv_usec = 500'000;
        ::setitimer(ITIMER_REAL, &half_second, nullptr);
        auto account = lookup_account(root.path, 1000);
        ::_exit(account.name == "agent" && account.home == "/home/agent" ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const bool hung = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    CHECK_MESSAGE(!hung, "lookup_account blocked on a FIFO /etc/passwd (killed by SIGALRM after 0.5 s)");
    const bool exited = WIFEXITED(status);
    REQUIRE(exited);
    const int exit_status = WEXITSTATUS(status);
    CHECK(exit_status == 0);  // the default account
}

TEST_CASE("sandbox: make_spec turns options into a Spec")
{
    TempDir rootfs;
    TempDir workspace;
    TempDir volume;
    fs::create_directories(rootfs / "etc");
    write_file(rootfs / "etc/passwd", "dev:x:1000:1000::/home/dev:/bin/sh\n");

    RunOptions options;
    options.rootfs = rootfs.path + "/";
    options.workspace = workspace.path;
    options.workdir = "/src";
    options.volumes = {{volume.path + "/.", "/data", true}};
    options.env = {"A=1", "TERM"};
    options.command = {"ls", "-la"};
    options.name = "box-1";
    options.timeout = std::chrono::seconds(3);
    auto spec = make_spec(options, {"TERM=xterm", "SECRET=s"});
    REQUIRE(spec.has_value());
    CHECK(spec->lower_dirs == std::vector<std::string>{fs::canonical(rootfs.path).string()});
    REQUIRE(spec->binds.size() == 2);
    CHECK(spec->binds[0].source == fs::canonical(workspace.path).string());
    CHECK(spec->binds[0].destination == "/src");
    CHECK_FALSE(spec->binds[0].read_only);
    CHECK(spec->binds[1].source == fs::canonical(volume.path).string());
    CHECK(spec->binds[1].destination == "/data");
    CHECK(spec->binds[1].read_only);
    CHECK(spec->cwd == "/src");
    CHECK(spec->uid == 1000);
    CHECK(spec->gid == 1000);
    CHECK(spec->hostname == "box-1");
    CHECK(spec->args == Env{"ls", "-la"});
    CHECK(spec->env == Env{"A=1", "HOME=/home/dev", default_path, "TERM=xterm", "USER=dev"});
    CHECK(spec->read_only_root);
    CHECK(spec->upper_dir.empty());
    CHECK(spec->network == cage::runtime::Network::none);
    CHECK(spec->timeout == std::chrono::seconds(3));

    options.keep = true;
    options.read_write = true;
    options.network = cage::runtime::Network::host;
    options.hostname = "other";
    auto kept = make_spec(options, {});
    REQUIRE(kept.has_value());
    CHECK(kept->upper_dir == data_dir() + "/containers/box-1/upper");
    CHECK_FALSE(kept->read_only_root);
    CHECK(kept->network == cage::runtime::Network::host);
    CHECK(kept->hostname == "other");

    // The profile's variables come from the host when set there; --env wins over them.
    options.profile_env = {"API_KEY", "UNSET_KEY", "A"};
    auto with_profile = make_spec(options, {"API_KEY=k1", "A=host", "SECRET=s"});
    REQUIRE(with_profile.has_value());
    CHECK(with_profile->env == Env{"A=1", "API_KEY=k1", "HOME=/home/dev", default_path, "USER=dev"});
    options.profile_env.clear();

    options.name.reset();
    options.hostname.reset();
    auto generated = make_spec(options, {});
    REQUIRE(generated.has_value());
    CHECK(generated->hostname.starts_with("cage-"));
    CHECK(generated->upper_dir == data_dir() + "/containers/" + generated->hostname + "/upper");
}

TEST_CASE("sandbox: make_spec passes the limits; --best-effort-limits requires none of them")
{
    TempDir rootfs;
    TempDir workspace;
    RunOptions options;
    options.rootfs = rootfs.path;
    options.workspace = workspace.path;
    options.command = {"true"};
    options.limits.memory = 1u << 30;
    options.limits.require_memory = options.limits.require_pids = true;
    options.limits.require_cpus = options.limits.require_io_weight = true;
    auto spec = make_spec(options, {});
    REQUIRE(spec.has_value());
    CHECK(spec->limits.memory == 1u << 30);
    CHECK(spec->limits.require_memory);
    CHECK(spec->limits.require_io_weight);
    options.best_effort_limits = true;
    spec = make_spec(options, {});
    REQUIRE(spec.has_value());
    CHECK(spec->limits.memory == 1u << 30);
    CHECK_FALSE(spec->limits.require_memory);
    CHECK_FALSE(spec->limits.require_pids);
    CHECK_FALSE(spec->limits.require_cpus);
    CHECK_FALSE(spec->limits.require_io_weight);
}

TEST_CASE("sandbox: a warning is said once per state directory, every time where it cannot be recorded")
{
    TempDir state;
    auto dir = (state / "cage").string();  // made on first use
    CHECK(first_time(dir, "limits-warning", "limits are not enforced"));
    CHECK(cage::read_small_file(dir + "/limits-warning") == "limits are not enforced\n");
    CHECK_FALSE(first_time(dir, "limits-warning", "limits are not enforced"));
    CHECK(first_time(dir, "another-warning", "x"));  // each warning has its own marker

    write_file(state / "file", "not a directory");
    auto unwritable = (state / "file" / "cage").string();
    CHECK(first_time(unwritable, "limits-warning", "x"));
    CHECK(first_time(unwritable, "limits-warning", "x"));
    auto entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator{});
    CHECK(entries == 2);  // the two markers, no temporary file left
}

TEST_CASE("sandbox: make_spec refuses bad names, missing directories and files as directories")
{
    TempDir rootfs;
    TempDir workspace;
    RunOptions options;
    options.rootfs = rootfs.path;
    options.workspace = workspace.path;
    options.command = {"true"};
    REQUIRE(make_spec(options, {}).has_value());

    auto with = [&](auto change) {
        RunOptions changed = options;
        change(changed);
        return make_spec(changed, {});
    };
    for (const std::string bad : {"../x", "a/b", "-x", ""}) {
        CAPTURE(bad);
        CHECK_FALSE(with([&](RunOptions& o) { o.name = bad; }).has_value());
        CHECK_FALSE(with([&](RunOptions& o) { o.hostname = bad; }).has_value());
    }
    auto missing_rootfs = with([&](RunOptions& o) { o.rootfs = (rootfs / "missing").string(); });
    REQUIRE_FALSE(missing_rootfs.has_value());
    CHECK(missing_rootfs.error().errnum == ENOENT);
    CHECK(missing_rootfs.error().exit_code == 125);
    CHECK_FALSE(missing_rootfs.error().hint.empty());

    write_file(rootfs / "file", "x");
    auto file_rootfs = with([&](RunOptions& o) { o.rootfs = (rootfs / "file").string(); });
    REQUIRE_FALSE(file_rootfs.has_value());
    CHECK(file_rootfs.error().errnum == ENOTDIR);
    auto file_workspace = with([&](RunOptions& o) { o.workspace = (rootfs / "file").string(); });
    REQUIRE_FALSE(file_workspace.has_value());
    CHECK(file_workspace.error().errnum == ENOTDIR);
    auto missing_volume = with([&](RunOptions& o) { o.volumes = {{"/nonexistent/volume", "/v", false}}; });
    REQUIRE_FALSE(missing_volume.has_value());
    CHECK(missing_volume.error().errnum == ENOENT);
    // A file is a valid volume source (a file bind mount).
    auto file_volume = with([&](RunOptions& o) { o.volumes = {{(rootfs / "file").string(), "/f", false}}; });
    CHECK(file_volume.has_value());
}

TEST_CASE("sandbox: the profile's persistent home is bound at /home/agent, except for root or --ephemeral-home")
{
    TempDir rootfs;
    TempDir workspace;
    RunOptions options;
    options.rootfs = rootfs.path;
    options.workspace = workspace.path;
    options.command = {"sh"};
    options.profile = "unit-test-home-" + std::to_string(::getpid());
    auto home = home_directory(options.profile);
    REQUIRE_FALSE(fs::exists(home));
    auto spec = make_spec(options, {});
    REQUIRE(spec.has_value());
    REQUIRE(spec->binds.size() == 2);
    CHECK(spec->binds[1].source == home);
    CHECK(spec->binds[1].destination == "/home/agent");
    CHECK_FALSE(spec->binds[1].read_only);
    struct stat st{};
    REQUIRE(::lstat(home.c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0700);
    CHECK(st.st_uid == ::getuid());
    CHECK(make_spec(options, {})->binds.size() == 2);  // an existing home is reused

    options.ephemeral_home = true;
    CHECK(make_spec(options, {})->binds.size() == 1);
    options.ephemeral_home = false;
    options.uid = options.gid = 0;
    CHECK(make_spec(options, {})->binds.size() == 1);
    options.uid = options.gid = 1000;
    options.profile = "../escape";
    CHECK_FALSE(make_spec(options, {}).has_value());
    fs::remove(home);

    // A symlink in the home's place is never followed into a mount.
    options.profile = "unit-test-home-link-" + std::to_string(::getpid());
    auto planted = home_directory(options.profile);
    fs::create_symlink(workspace.path, planted);
    auto refused = make_spec(options, {});
    fs::remove(planted);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().path == planted);
}
