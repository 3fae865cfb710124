#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/safe_path.hpp"

namespace fs = std::filesystem;
using namespace cage;

namespace {

struct TempRoot {
    fs::path dir;
    UniqueFd fd;
    TempRoot()
    {
        char name[] = "/tmp/cage-unit.XXXXXX";
        dir = ::mkdtemp(name);
        fs::create_directories(dir / "etc");
        fs::create_directories(dir / "usr/lib");
        fs::create_directories(dir / "tmp/outside");
        std::FILE* f = std::fopen((dir / "etc/passwd").c_str(), "w");
        std::fputs("inside\n", f);
        std::fclose(f);
        fs::create_symlink("/", dir / "abs-root");
        fs::create_symlink("../../../..", dir / "usr/lib/up");
        fs::create_symlink("/tmp/outside", dir / "abs-tmp");
        fs::create_symlink("chain2", dir / "chain1");
        fs::create_symlink("/chain3", dir / "chain2");
        fs::create_symlink("etc", dir / "chain3");
        fs::create_symlink("loop2", dir / "loop1");
        fs::create_symlink("loop1", dir / "loop2");
        fs::create_symlink("/nonexistent/dir", dir / "dangling");
        fd.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    ~TempRoot() { fs::remove_all(dir); }
    bool same(int opened, const fs::path& relative) const
    {
        struct stat a{}, b{};
        return ::fstat(opened, &a) == 0 && ::lstat((dir / relative).c_str(), &b) == 0 &&
               a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    }
};

void check_resolution(bool use_openat2)
{
    safe_path::disable_openat2_for_testing(!use_openat2);
    TempRoot root;
    auto etc = safe_path::open_in_root(root.fd.get(), "/abs-root/etc", O_PATH);
    REQUIRE(etc.has_value());
    CHECK(root.same(etc->get(), "etc"));
    auto up = safe_path::open_in_root(root.fd.get(), "usr/lib/up/etc/passwd", O_PATH);
    REQUIRE(up.has_value());
    CHECK(root.same(up->get(), "etc/passwd"));
    auto dots = safe_path::open_in_root(root.fd.get(), "/../../../etc", O_PATH);
    REQUIRE(dots.has_value());
    CHECK(root.same(dots->get(), "etc"));
    auto tmp = safe_path::open_in_root(root.fd.get(), "/abs-tmp", O_PATH);
    REQUIRE(tmp.has_value());
    CHECK(root.same(tmp->get(), "tmp/outside"));
    auto chain = safe_path::open_in_root(root.fd.get(), "/chain1/passwd", O_RDONLY);
    REQUIRE(chain.has_value());
    char buffer[16] = {};
    CHECK(::read(chain->get(), buffer, sizeof(buffer) - 1) == 7);
    CHECK(std::string(buffer) == "inside\n");
    auto loop = safe_path::open_in_root(root.fd.get(), "/loop1", O_PATH);
    REQUIRE_FALSE(loop.has_value());
    CHECK(loop.error().errnum == ELOOP);
    auto through_file = safe_path::open_in_root(root.fd.get(), "/etc/passwd/x", O_PATH);
    REQUIRE_FALSE(through_file.has_value());
    CHECK(through_file.error().errnum == ENOTDIR);
    auto not_dir = safe_path::open_in_root(root.fd.get(), "/etc/passwd", O_PATH | O_DIRECTORY);
    CHECK_FALSE(not_dir.has_value());

    auto made = safe_path::make_directories(root.fd.get(), "/abs-root/usr/lib/up/new/deep", 0755);
    REQUIRE(made.has_value());
    CHECK(fs::is_directory(root.dir / "new/deep"));
    CHECK(root.same(made->get(), "new/deep"));
    auto through_dangling = safe_path::make_directories(root.fd.get(), "/dangling/x", 0755);
    REQUIRE(through_dangling.has_value());
    CHECK(fs::is_directory(root.dir / "nonexistent/dir/x"));
    CHECK_FALSE(fs::exists("/nonexistent/dir/x"));

    auto file = safe_path::make_file(root.fd.get(), "/abs-root/made/file.conf", 0644);
    REQUIRE(file.has_value());
    CHECK(fs::is_regular_file(root.dir / "made/file.conf"));
    auto again = safe_path::make_file(root.fd.get(), "/made/file.conf", 0644);
    REQUIRE(again.has_value());
    CHECK(root.same(again->get(), "made/file.conf"));
    safe_path::disable_openat2_for_testing(false);
}

}  // namespace

TEST_CASE("paths resolve inside the root with openat2")
{
    check_resolution(true);
}

TEST_CASE("paths resolve inside the root with the fallback walk")
{
    check_resolution(false);
}

TEST_CASE("components drop empty and dot parts")
{
    CHECK(safe_path::components("//a/./b//../c/") == std::vector<std::string>{"a", "b", "..", "c"});
    CHECK(safe_path::components("/").empty());
}
