// runtime/safe_path: resolution and creation inside a root full of hostile symlinks.
//
// Every test runs twice (doctest subcases): with openat2(RESOLVE_IN_ROOT) and with the
// component-wise fallback walk forced by disable_openat2_for_testing(true).
//
// The fixture mirrors host paths inside the root, so that an escape is not merely "not found"
// but lands on a different, existing object:
//   BASE/outside/secret                   a host file outside the root ("outside\n")
//   BASE/root/                            the root
//   BASE/root/BASE/outside/secret         its in-root twin ("inside twin\n")
//   BASE/root/etc/passwd                  "inside\n"
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/safe_path.hpp"
#include "runtime/sys.hpp"

namespace fs = std::filesystem;
using namespace cage;

namespace {

void write_file(const fs::path& path, const std::string& content)
{
    std::ofstream out(path);
    out << content;
}

std::string read_fd(int fd)
{
    std::string content;
    char chunk[256];
    ssize_t got;
    while ((got = ::pread(fd, chunk, sizeof(chunk), static_cast<off_t>(content.size()))) > 0)
        content.append(chunk, static_cast<std::size_t>(got));
    return content;
}

std::string read_path(const fs::path& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd ? read_fd(fd.get()) : std::string("(unreadable)");
}

std::string fd_path(int fd)
{
    char target[4096] = {};
    auto link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t length = ::readlink(link.c_str(), target, sizeof(target) - 1);
    return length > 0 ? std::string(target, static_cast<std::size_t>(length)) : std::string();
}

// Selects the resolver for the rest of the test case; always restores openat2 afterwards,
// also when a REQUIRE throws.
class Resolver {
public:
    explicit Resolver(bool fallback) { safe_path::disable_openat2_for_testing(fallback); }
    ~Resolver() { safe_path::disable_openat2_for_testing(false); }
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;
};

struct TempRoot {
    fs::path base;
    fs::path dir;    // the root
    fs::path twin;   // BASE as a path inside the root, without the leading slash
    UniqueFd fd;

    TempRoot()
    {
        char name[] = "/tmp/cage-unit-safe-path.XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        base = name;
        dir = base / "root";
        twin = base.relative_path();

        fs::create_directories(base / "outside");
        write_file(base / "outside/secret", "outside\n");
        fs::create_directories(dir / twin / "outside");
        write_file(dir / twin / "outside/secret", "inside twin\n");

        fs::create_directories(dir / "etc");
        fs::create_directories(dir / "usr/lib");
        fs::create_directories(dir / "tmp/outside");
        write_file(dir / "etc/passwd", "inside\n");

        fs::create_symlink("/", dir / "abs-root");                       // absolute, to "/"
        fs::create_symlink("/", dir / "etc/root-link");                  // "/etc/root-link" -> "/"
        fs::create_symlink("../../../..", dir / "usr/lib/up");           // relative, climbing far
        fs::create_symlink("/tmp/outside", dir / "abs-tmp");             // absolute, in /tmp
        fs::create_symlink(base / "outside", dir / "host-outside");      // absolute host path
        fs::create_symlink(base / "outside/secret", dir / "host-secret");
        fs::create_symlink("../../../../../../../../" + (base / "outside/secret").relative_path().string(),
                           dir / "usr/lib/rel-secret");
        fs::create_symlink("/proc/self/root/etc", dir / "magic");       // a magic link, if followed on the host
        fs::create_symlink("chain2", dir / "chain1");                    // chain1 -> chain2 -> /chain3 -> etc
        fs::create_symlink("/chain3", dir / "chain2");
        fs::create_symlink("etc", dir / "chain3");
        fs::create_symlink("loop2", dir / "loop1");
        fs::create_symlink("loop1", dir / "loop2");
        fs::create_symlink("self", dir / "self");
        fs::create_symlink("/etc/passwd", dir / "file-link");
        fs::create_symlink(base / "outside/missing/dir", dir / "dangling");  // absolute, missing in the root
        fs::create_symlink("rel-missing/sub", dir / "etc/rel-dangling");
        fd.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(fd.valid());
    }
    ~TempRoot()
    {
        std::error_code ignored;
        fs::remove_all(base, ignored);
    }
    TempRoot(const TempRoot&) = delete;
    TempRoot& operator=(const TempRoot&) = delete;

    // The descriptor is the object at `relative` inside the root (symlinks not followed).
    bool same(int opened, const fs::path& relative) const
    {
        struct stat a{}, b{};
        return ::fstat(opened, &a) == 0 && ::lstat((dir / relative).c_str(), &b) == 0 &&
               a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    }
    // The descriptor refers to something inside the root (or the root itself).
    bool inside(int opened) const
    {
        auto path = fd_path(opened);
        return path == dir.string() || path.starts_with(dir.string() + "/");
    }
    // A chain of n symlinks link0 -> link1 -> ... -> link(n-1) -> /etc/passwd.
    void make_chain(const std::string& prefix, int n) const
    {
        for (int i = 0; i < n; ++i) {
            std::string target = i + 1 < n ? prefix + std::to_string(i + 1) : "/etc/passwd";
            fs::create_symlink(target, dir / (prefix + std::to_string(i)));
        }
    }
};

bool openat2_works()
{
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT;
    int fd = sys::openat2(AT_FDCWD, "/", &how);
    if (fd >= 0) {
        ::close(fd);
        return true;
    }
    return errno != ENOSYS;
}

// doctest runs the test case once per subcase: once with each resolver.
#define BOTH_RESOLVERS                                      \
    bool fallback_walk = false;                             \
    SUBCASE("openat2") { fallback_walk = false; }           \
    SUBCASE("fallback walk") { fallback_walk = true; }      \
    CAPTURE(fallback_walk);                                 \
    Resolver resolver_guard(fallback_walk)

}  // namespace

TEST_CASE("safe_path: openat2 is available here (else the openat2 runs test the fallback twice)")
{
    if (!openat2_works())
        WARN_MESSAGE(false, "openat2 returns ENOSYS on this kernel");
}

TEST_CASE("safe_path: components drop empty and dot parts, keep dot-dot")
{
    using V = std::vector<std::string>;
    CHECK(safe_path::components("") == V{});
    CHECK(safe_path::components("/") == V{});
    CHECK(safe_path::components("///././/") == V{});
    CHECK(safe_path::components("a") == V{"a"});
    CHECK(safe_path::components("/a/b") == V{"a", "b"});
    CHECK(safe_path::components("a/b/") == V{"a", "b"});
    CHECK(safe_path::components("//a/./b//../c/") == V{"a", "b", "..", "c"});
    CHECK(safe_path::components("./a/./b/.") == V{"a", "b"});
    CHECK(safe_path::components("../..") == V{"..", ".."});
    CHECK(safe_path::components(".../.a/a.") == V{"...", ".a", "a."});
    CHECK(safe_path::components("a b/c\td") == V{"a b", "c\td"});
}

TEST_CASE("safe_path: absolute links to / resolve to the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"/abs-root/etc", "abs-root/etc", "/abs-root/abs-root/./etc", "/etc/root-link/etc",
                             "/etc/root-link/etc/root-link/etc"}) {
        CAPTURE(path);
        auto etc = safe_path::open_in_root(root.fd.get(), path, O_PATH);
        REQUIRE(etc.has_value());
        CHECK(root.same(etc->get(), "etc"));
    }
    auto top = safe_path::open_in_root(root.fd.get(), "/abs-root", O_PATH | O_DIRECTORY);
    REQUIRE(top.has_value());
    CHECK(root.same(top->get(), ""));
    // Reading through it reaches the in-root file, never the host's /etc/passwd.
    auto passwd = safe_path::open_in_root(root.fd.get(), "/etc/root-link/etc/passwd", O_RDONLY);
    REQUIRE(passwd.has_value());
    CHECK(read_fd(passwd->get()) == "inside\n");
}

TEST_CASE("safe_path: dot-dot never climbs above the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"/../../../etc", "../etc", "..", "/..", "etc/../../..", "usr/lib/up/etc",
                             "usr/lib/up/../../../etc", "/usr/lib/up/usr/lib/up/etc", "abs-root/../etc"}) {
        CAPTURE(path);
        auto fd = safe_path::open_in_root(root.fd.get(), path, O_PATH);
        REQUIRE(fd.has_value());
        CHECK(root.inside(fd->get()));
        std::string expected = std::string(path).ends_with("etc") ? "etc" : "";
        CHECK(root.same(fd->get(), expected));
    }
    auto passwd = safe_path::open_in_root(root.fd.get(), "usr/lib/up/etc/passwd", O_RDONLY);
    REQUIRE(passwd.has_value());
    CHECK(root.same(passwd->get(), "etc/passwd"));
    CHECK(read_fd(passwd->get()) == "inside\n");
}

TEST_CASE("safe_path: absolute links to host paths resolve inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto tmp = safe_path::open_in_root(root.fd.get(), "/abs-tmp", O_PATH);
    REQUIRE(tmp.has_value());
    CHECK(root.same(tmp->get(), "tmp/outside"));

    // The host directory exists too: an escape would find it, not fail.
    auto outside = safe_path::open_in_root(root.fd.get(), "/host-outside", O_PATH | O_DIRECTORY);
    REQUIRE(outside.has_value());
    CHECK(root.same(outside->get(), root.twin / "outside"));

    for (const std::string path : {"/host-outside/secret", "host-secret", "/usr/lib/rel-secret"}) {
        CAPTURE(path);
        auto secret = safe_path::open_in_root(root.fd.get(), path, O_RDONLY);
        REQUIRE(secret.has_value());
        CHECK(root.same(secret->get(), root.twin / "outside/secret"));
        CHECK(read_fd(secret->get()) == "inside twin\n");
    }
}

TEST_CASE("safe_path: magic links of the host's /proc are never reached")
{
    BOTH_RESOLVERS;
    TempRoot root;
    // There is no /proc inside this root: the link dangles there.
    auto magic = safe_path::open_in_root(root.fd.get(), "/magic/passwd", O_RDONLY);
    REQUIRE_FALSE(magic.has_value());
    CHECK(magic.error().errnum == ENOENT);
    auto direct = safe_path::open_in_root(root.fd.get(), "/proc/self/root/etc/passwd", O_RDONLY);
    REQUIRE_FALSE(direct.has_value());
    CHECK(direct.error().errnum == ENOENT);
}

TEST_CASE("safe_path: a chain of links, relative and absolute, resolves inside")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto dir = safe_path::open_in_root(root.fd.get(), "/chain1", O_PATH | O_DIRECTORY);
    REQUIRE(dir.has_value());
    CHECK(root.same(dir->get(), "etc"));
    auto chain = safe_path::open_in_root(root.fd.get(), "/chain1/passwd", O_RDONLY);
    REQUIRE(chain.has_value());
    CHECK(read_fd(chain->get()) == "inside\n");
    auto via_file_link = safe_path::open_in_root(root.fd.get(), "/file-link", O_RDONLY);
    REQUIRE(via_file_link.has_value());
    CHECK(root.same(via_file_link->get(), "etc/passwd"));
}

TEST_CASE("safe_path: 40 links are followed, the 41st is ELOOP (the kernel's limit)")
{
    BOTH_RESOLVERS;
    TempRoot root;
    root.make_chain("forty", 40);
    root.make_chain("fortyone", 41);
    auto forty = safe_path::open_in_root(root.fd.get(), "/forty0", O_RDONLY);
    REQUIRE(forty.has_value());
    CHECK(root.same(forty->get(), "etc/passwd"));
    auto too_many = safe_path::open_in_root(root.fd.get(), "/fortyone0", O_RDONLY);
    REQUIRE_FALSE(too_many.has_value());
    CHECK(too_many.error().errnum == ELOOP);
}

TEST_CASE("safe_path: symlink loops fail with ELOOP")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"/loop1", "loop2", "/self", "/loop1/x", "/etc/../self/x"}) {
        CAPTURE(path);
        auto loop = safe_path::open_in_root(root.fd.get(), path, O_PATH);
        REQUIRE_FALSE(loop.has_value());
        CHECK(loop.error().errnum == ELOOP);
    }
}

TEST_CASE("safe_path: a file in the middle of a path is ENOTDIR")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"/etc/passwd/x", "/file-link/x", "/etc/passwd/..", "/chain1/passwd/x/y"}) {
        CAPTURE(path);
        auto through_file = safe_path::open_in_root(root.fd.get(), path, O_PATH);
        REQUIRE_FALSE(through_file.has_value());
        CHECK(through_file.error().errnum == ENOTDIR);
    }
    for (const std::string path : {"/etc/passwd", "/file-link"}) {
        CAPTURE(path);
        auto not_dir = safe_path::open_in_root(root.fd.get(), path, O_PATH | O_DIRECTORY);
        REQUIRE_FALSE(not_dir.has_value());
        CHECK(not_dir.error().errnum == ENOTDIR);
    }
}

TEST_CASE("safe_path: O_NOFOLLOW opens the final link itself; the root itself opens")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto link = safe_path::open_in_root(root.fd.get(), "/abs-root", O_PATH | O_NOFOLLOW);
    REQUIRE(link.has_value());
    CHECK(root.same(link->get(), "abs-root"));
    struct stat st{};
    REQUIRE(::fstat(link->get(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    // Links before the last component are still followed.
    auto inner = safe_path::open_in_root(root.fd.get(), "/chain1/root-link", O_PATH | O_NOFOLLOW);
    REQUIRE(inner.has_value());
    CHECK(root.same(inner->get(), "etc/root-link"));

    for (const std::string path : {"", "/", ".", "//"}) {
        CAPTURE(path);
        auto top = safe_path::open_in_root(root.fd.get(), path, O_RDONLY | O_DIRECTORY);
        REQUIRE(top.has_value());
        CHECK(root.same(top->get(), ""));
    }
}

TEST_CASE("safe_path: descriptors are CLOEXEC, access modes are honoured")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto path_fd = safe_path::open_in_root(root.fd.get(), "/chain1/passwd", O_PATH);
    REQUIRE(path_fd.has_value());
    CHECK((::fcntl(path_fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(path_fd->get(), F_GETFL) & O_PATH) != 0);

    auto writable = safe_path::open_in_root(root.fd.get(), "/chain1/passwd", O_WRONLY | O_APPEND);
    REQUIRE(writable.has_value());
    CHECK((::fcntl(writable->get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(writable->get(), F_GETFL) & O_ACCMODE) == O_WRONLY);
    REQUIRE(::write(writable->get(), "more\n", 5) == 5);
    CHECK(read_path(root.dir / "etc/passwd") == "inside\nmore\n");
}

TEST_CASE("safe_path: a missing path is ENOENT, reported with its absolute path")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto missing = safe_path::open_in_root(root.fd.get(), "etc/missing", O_PATH);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().errnum == ENOENT);
    CHECK(missing.error().path == "/etc/missing");
    CHECK(missing.error().what == "open inside the container root");
    auto absolute = safe_path::open_in_root(root.fd.get(), "/nope/x", O_PATH);
    REQUIRE_FALSE(absolute.has_value());
    CHECK(absolute.error().path == "/nope/x");
    auto dangling = safe_path::open_in_root(root.fd.get(), "/dangling", O_PATH);
    REQUIRE_FALSE(dangling.has_value());
    CHECK(dangling.error().errnum == ENOENT);
}

TEST_CASE("safe_path: no descriptor ever leaves the root, whatever the path and flags")
{
    BOTH_RESOLVERS;
    TempRoot root;
    const std::string host_secret = (root.base / "outside/secret").string();
    const std::string host_outside = (root.base / "outside").string();
    const std::vector<std::string> paths{
        "/abs-root", "/abs-root/..", "/abs-root/etc/passwd", "/usr/lib/up", "/usr/lib/up/..",
        "/usr/lib/rel-secret", "/host-outside", "/host-secret", "/host-outside/..", "/host-outside/../..",
        "/abs-tmp/../..", "/chain1/../..", "/etc/root-link/..", "/magic", host_secret, host_outside,
        "../../../../../../../../.." + host_secret, "/tmp", "/proc/self/root", "/proc/1/root",
    };
    for (const auto& path : paths)
        for (int flags : {O_PATH, O_PATH | O_NOFOLLOW, O_RDONLY, O_PATH | O_DIRECTORY}) {
            CAPTURE(path);
            CAPTURE(flags);
            auto fd = safe_path::open_in_root(root.fd.get(), path, flags);
            if (fd) {
                CHECK(root.inside(fd->get()));
                CHECK(fd_path(fd->get()) != host_secret);
            }
        }
}

TEST_CASE("safe_path: the fallback walk gives what openat2 gives")
{
    if (!openat2_works())
        return;
    TempRoot root;
    const std::vector<std::string> paths{
        "", "/", ".", "..", "etc", "etc/.", "etc/..", "etc/passwd", "etc/passwd/..", "abs-root", "abs-root/etc",
        "abs-tmp", "host-outside", "host-secret", "usr/lib/up", "usr/lib/up/etc/passwd", "usr/lib/rel-secret",
        "chain1", "chain1/passwd", "file-link", "dangling", "loop1", "self", "magic", "nonexistent",
        "nonexistent/..", "etc/rel-dangling", "etc/root-link", "etc/root-link/etc/root-link",
    };
    auto outcome = [&](const std::string& path, int flags) {
        auto fd = safe_path::open_in_root(root.fd.get(), path, flags);
        if (!fd)
            return "error " + std::to_string(fd.error().errnum);
        struct stat st{};
        ::fstat(fd->get(), &st);
        return "ino " + std::to_string(st.st_ino) + " mode " + std::to_string(st.st_mode & S_IFMT);
    };
    for (const auto& path : paths)
        for (int flags : {O_PATH, O_PATH | O_NOFOLLOW, O_RDONLY, O_RDONLY | O_NOFOLLOW, O_PATH | O_DIRECTORY,
                          O_RDONLY | O_DIRECTORY}) {
            CAPTURE(path);
            CAPTURE(flags);
            std::string with_openat2, with_walk;
            {
                Resolver guard(false);
                with_openat2 = outcome(path, flags);
            }
            {
                Resolver guard(true);
                with_walk = outcome(path, flags);
            }
            CHECK(with_walk == with_openat2);
        }
}

// The header promises "a component-wise walk with the same rules" as openat2. A trailing
// slash (or "/.") makes the kernel require a directory, and follow a final symlink even
// with O_NOFOLLOW; the fallback walk drops it with the empty component.
TEST_CASE("safe_path: a trailing slash requires a directory, in the fallback walk too")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"etc/passwd/", "etc/passwd/.", "file-link/"}) {
        CAPTURE(path);
        auto file = safe_path::open_in_root(root.fd.get(), path, O_PATH);
        REQUIRE_FALSE(file.has_value());
        CHECK(file.error().errnum == ENOTDIR);
    }
    // "abs-root/" names the directory the link points to, even with O_NOFOLLOW.
    auto dir = safe_path::open_in_root(root.fd.get(), "abs-root/", O_PATH | O_NOFOLLOW);
    REQUIRE(dir.has_value());
    CHECK(root.same(dir->get(), ""));
}

TEST_CASE("safe_path: make_directories creates every missing component inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto made = safe_path::make_directories(root.fd.get(), "/a/b/c", 0700);
    REQUIRE(made.has_value());
    CHECK(fs::is_directory(root.dir / "a/b/c"));
    CHECK(root.same(made->get(), "a/b/c"));
    CHECK((::fcntl(made->get(), F_GETFL) & O_PATH) != 0);
    CHECK((::fcntl(made->get(), F_GETFD) & FD_CLOEXEC) != 0);
    struct stat st{};
    REQUIRE(::stat((root.dir / "a/b/c").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777 & ~0700) == 0);  // never wider than asked (the umask may narrow it)

    auto again = safe_path::make_directories(root.fd.get(), "a//b/./c/", 0755);
    REQUIRE(again.has_value());
    CHECK(root.same(again->get(), "a/b/c"));
    auto top = safe_path::make_directories(root.fd.get(), "/", 0755);
    REQUIRE(top.has_value());
    CHECK(root.same(top->get(), ""));
    auto dots = safe_path::make_directories(root.fd.get(), "/../../x/../y", 0755);
    REQUIRE(dots.has_value());
    CHECK(root.same(dots->get(), "y"));
}

TEST_CASE("safe_path: make_directories through symlinked parents creates inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto made = safe_path::make_directories(root.fd.get(), "/abs-root/usr/lib/up/new/deep", 0755);
    REQUIRE(made.has_value());
    CHECK(fs::is_directory(root.dir / "new/deep"));
    CHECK(root.same(made->get(), "new/deep"));

    auto host = safe_path::make_directories(root.fd.get(), "/host-outside/created", 0755);
    REQUIRE(host.has_value());
    CHECK(root.same(host->get(), root.twin / "outside/created"));
    CHECK_FALSE(fs::exists(root.base / "outside/created"));

    auto chain = safe_path::make_directories(root.fd.get(), "/chain1/sub", 0755);
    REQUIRE(chain.has_value());
    CHECK(root.same(chain->get(), "etc/sub"));
}

TEST_CASE("safe_path: make_directories follows dangling links inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto absolute = safe_path::make_directories(root.fd.get(), "/dangling/x", 0755);
    REQUIRE(absolute.has_value());
    CHECK(root.same(absolute->get(), root.twin / "outside/missing/dir/x"));
    CHECK_FALSE(fs::exists(root.base / "outside/missing"));  // never on the host

    auto relative = safe_path::make_directories(root.fd.get(), "/etc/rel-dangling/a", 0755);
    REQUIRE(relative.has_value());
    CHECK(root.same(relative->get(), "etc/rel-missing/sub/a"));
    CHECK(fs::is_symlink(root.dir / "etc/rel-dangling"));
}

TEST_CASE("safe_path: make_directories refuses files and loops on the way")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto through_file = safe_path::make_directories(root.fd.get(), "/etc/passwd/x", 0755);
    REQUIRE_FALSE(through_file.has_value());
    CHECK(through_file.error().errnum == ENOTDIR);
    auto on_file = safe_path::make_directories(root.fd.get(), "/file-link", 0755);
    REQUIRE_FALSE(on_file.has_value());
    CHECK(on_file.error().errnum == ENOTDIR);
    auto loop = safe_path::make_directories(root.fd.get(), "/loop1/x", 0755);
    REQUIRE_FALSE(loop.has_value());
    CHECK(loop.error().errnum == ELOOP);
    // Dangling links that point at each other's children never end: refused, not recursed forever.
    fs::create_symlink("d2/x", root.dir / "d1");
    fs::create_symlink("d1/y", root.dir / "d2");
    auto crossed = safe_path::make_directories(root.fd.get(), "/d1/z", 0755);
    REQUIRE_FALSE(crossed.has_value());
    CHECK(crossed.error().errnum == ELOOP);
}

TEST_CASE("safe_path: make_file creates an empty file and its parents, and is idempotent")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto file = safe_path::make_file(root.fd.get(), "/made/sub/file.conf", 0600);
    REQUIRE(file.has_value());
    CHECK(fs::is_regular_file(root.dir / "made/sub/file.conf"));
    CHECK(fs::file_size(root.dir / "made/sub/file.conf") == 0);
    CHECK(root.same(file->get(), "made/sub/file.conf"));
    CHECK((::fcntl(file->get(), F_GETFL) & O_PATH) != 0);
    struct stat st{};
    REQUIRE(::stat((root.dir / "made/sub/file.conf").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777 & ~0600) == 0);

    // Again: the same file, its content untouched.
    write_file(root.dir / "made/sub/file.conf", "keep me");
    auto again = safe_path::make_file(root.fd.get(), "made/sub/file.conf", 0644);
    REQUIRE(again.has_value());
    CHECK(root.same(again->get(), "made/sub/file.conf"));
    CHECK(read_path(root.dir / "made/sub/file.conf") == "keep me");

    // Something that exists is returned as it is, a directory included.
    auto existing = safe_path::make_file(root.fd.get(), "/etc/passwd", 0644);
    REQUIRE(existing.has_value());
    CHECK(root.same(existing->get(), "etc/passwd"));
    auto directory = safe_path::make_file(root.fd.get(), "/etc", 0644);
    REQUIRE(directory.has_value());
    CHECK(root.same(directory->get(), "etc"));
}

TEST_CASE("safe_path: make_file through links creates inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    auto via_root = safe_path::make_file(root.fd.get(), "/abs-root/made/file.conf", 0644);
    REQUIRE(via_root.has_value());
    CHECK(root.same(via_root->get(), "made/file.conf"));

    auto via_host_path = safe_path::make_file(root.fd.get(), "/host-outside/new-file", 0644);
    REQUIRE(via_host_path.has_value());
    CHECK(root.same(via_host_path->get(), root.twin / "outside/new-file"));
    CHECK_FALSE(fs::exists(root.base / "outside/new-file"));

    auto via_dangling_parent = safe_path::make_file(root.fd.get(), "/dangling/f", 0644);
    REQUIRE(via_dangling_parent.has_value());
    CHECK(root.same(via_dangling_parent->get(), root.twin / "outside/missing/dir/f"));
    CHECK_FALSE(fs::exists(root.base / "outside/missing"));

    // An existing link to a file resolves to its in-root target, never the host's twin.
    auto link = safe_path::make_file(root.fd.get(), "/host-secret", 0644);
    REQUIRE(link.has_value());
    CHECK(root.same(link->get(), root.twin / "outside/secret"));
}

TEST_CASE("safe_path: make_file refuses the root and paths through files")
{
    BOTH_RESOLVERS;
    TempRoot root;
    for (const std::string path : {"", "/", "//./"}) {
        CAPTURE(path);
        CHECK_FALSE(safe_path::make_file(root.fd.get(), path, 0644).has_value());
    }
    auto through_file = safe_path::make_file(root.fd.get(), "/etc/passwd/x", 0644);
    REQUIRE_FALSE(through_file.has_value());
    CHECK(through_file.error().errnum == ENOTDIR);
    auto loop = safe_path::make_file(root.fd.get(), "/loop1", 0644);
    REQUIRE_FALSE(loop.has_value());
    CHECK(loop.error().errnum == ELOOP);
}

// A file bind mount onto a dangling link is common: Debian and Ubuntu images ship
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf. make_directories follows such a
// link inside the root and creates its target; make_file should do the same (inside the root,
// never on the host) rather than fail with ENOENT.
TEST_CASE("safe_path: make_file onto a dangling link creates the link's target inside the root")
{
    BOTH_RESOLVERS;
    TempRoot root;
    fs::create_directories(root.dir / "run");
    fs::create_symlink("../run/systemd/resolve/stub-resolv.conf", root.dir / "etc/resolv.conf");
    auto relative = safe_path::make_file(root.fd.get(), "/etc/resolv.conf", 0644);
    REQUIRE(relative.has_value());
    CHECK(root.same(relative->get(), "run/systemd/resolve/stub-resolv.conf"));
    CHECK(fs::is_regular_file(root.dir / "run/systemd/resolve/stub-resolv.conf"));

    fs::create_symlink(root.base / "outside/new-target", root.dir / "etc/abs-dangling");
    auto absolute = safe_path::make_file(root.fd.get(), "/etc/abs-dangling", 0644);
    CHECK_FALSE(fs::exists(root.base / "outside/new-target"));  // never on the host
    REQUIRE(absolute.has_value());
    CHECK(root.same(absolute->get(), root.twin / "outside/new-target"));
}
