#include <doctest/doctest.h>

#include <cage/error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "runtime/util.hpp"
#include "sandbox/sandbox.hpp"

namespace fs = std::filesystem;
using namespace cage::sandbox;

TEST_CASE("the environment: only the pass-through variables, defaults, then --env")
{
    std::vector<std::string> host{"SECRET=s3cret", "TERM=xterm", "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=C",
                                  "TZ=UTC", "COLORTERM=truecolor", "PATH=/host/bin", "FROM_HOST=yes", "HOME=/root"};
    auto env = build_environment(host, {"A=1", "FROM_HOST", "ABSENT", "PATH=/custom", "TERM=dumb"}, "agent", "/home/agent");
    CHECK(env == std::vector<std::string>{"A=1", "COLORTERM=truecolor", "FROM_HOST=yes", "HOME=/home/agent",
                                          "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=C", "PATH=/custom", "TERM=dumb",
                                          "TZ=UTC", "USER=agent"});
    auto defaults = build_environment({}, {}, "root", "/root");
    CHECK(defaults == std::vector<std::string>{"HOME=/root",
                                               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                               "USER=root"});
    CHECK(passes_through("LC_MESSAGES"));
    CHECK_FALSE(passes_through("SSH_AUTH_SOCK"));
    CHECK_FALSE(passes_through("ANTHROPIC_API_KEY"));
}

TEST_CASE("names")
{
    CHECK(valid_name("cage-1a2b3c"));
    CHECK(valid_name("a.b-c"));
    for (const std::string bad : {"", "-x", ".x", "a/b", "a b", "a_b"})
        CHECK_FALSE(valid_name(bad));
    CHECK_FALSE(valid_name(std::string(64, 'a')));
    CHECK(valid_name(std::string(63, 'a')));
    auto name = random_name();
    CHECK(name.size() == 11);
    CHECK(name.starts_with("cage-"));
    CHECK(name.find_first_not_of("0123456789abcdef", 5) == std::string::npos);
}

TEST_CASE("the account comes from the rootfs /etc/passwd, resolved inside it")
{
    char name[] = "/tmp/cage-unit-rootfs.XXXXXX";
    fs::path root = ::mkdtemp(name);
    fs::create_directories(root / "etc");
    fs::create_directories(root / "data");
    std::FILE* f = std::fopen((root / "data/passwd").c_str(), "w");
    std::fputs("root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000::/home/dev:/bin/sh\nbad:x:7:7::relative:/bin/sh\n", f);
    std::fclose(f);
    // An absolute symlink is resolved inside the rootfs, never against the host's /etc.
    fs::create_symlink("/../../../data/passwd", root / "etc/passwd");
    auto dev = lookup_account(root, 1000);
    CHECK(dev.name == "dev");
    CHECK(dev.home == "/home/dev");
    CHECK(lookup_account(root, 0).name == "root");
    auto bad = lookup_account(root, 7);
    CHECK(bad.name == "agent");
    auto missing = lookup_account(root, 4242);
    CHECK(missing.name == "agent");
    CHECK(missing.home == "/home/agent");
    fs::remove_all(root);
    CHECK(lookup_account("/nonexistent", 0).home == "/root");
}

TEST_CASE("errors render as one line")
{
    cage::Error error{"mount", EPERM, "/proc", "try this", 125};
    CHECK(error.message() == "mount: Operation not permitted [/proc]; try this");
    errno = ENOENT;
    auto from_errno = cage::errno_error("open", "/x");
    CHECK(from_errno.errnum == ENOENT);
    CHECK(from_errno.message() == "open: No such file or directory [/x]");
    CHECK(cage::plain_error("bad").message() == "bad");
}

TEST_CASE("PATH entries become candidates in order, an empty entry meaning the current directory")
{
    CHECK(cage::path_candidates("/usr/bin::/bin", "ls") ==
          std::vector<std::string>{"/usr/bin/ls", "./ls", "/bin/ls"});
    CHECK(cage::path_candidates("", "ls") == std::vector<std::string>{"./ls"});
}
