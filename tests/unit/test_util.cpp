// runtime/util: the PATH splitter and the small-file reader.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/fd.hpp"
#include "runtime/util.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;
using Paths = std::vector<std::string>;

TEST_CASE("util: PATH entries become candidates in order, an empty entry meaning the current directory")
{
    CHECK(cage::path_candidates("/usr/bin::/bin", "ls") == Paths{"/usr/bin/ls", "./ls", "/bin/ls"});
    CHECK(cage::path_candidates("", "ls") == Paths{"./ls"});
    CHECK(cage::path_candidates(":", "ls") == Paths{"./ls", "./ls"});
    CHECK(cage::path_candidates("/bin:", "ls") == Paths{"/bin/ls", "./ls"});
    CHECK(cage::path_candidates("/a", "x") == Paths{"/a/x"});
}

TEST_CASE("util: read_small_file reads whole small files, refuses large or unreadable ones")
{
    char name[] = "/tmp/cage-unit-util.XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    fs::path dir = name;
    {
        std::ofstream(dir / "small") << std::string(10000, 'a');
        std::ofstream(dir / "empty");
        std::ofstream(dir / "exact") << std::string(1 << 20, 'b');
        std::ofstream(dir / "large") << std::string((1 << 20) + 1, 'c');
    }
    CHECK(cage::read_small_file((dir / "small").string()) == std::string(10000, 'a'));
    CHECK(cage::read_small_file((dir / "empty").string()) == std::string());
    CHECK(cage::read_small_file((dir / "exact").string())->size() == (1u << 20));
    CHECK_FALSE(cage::read_small_file((dir / "large").string()).has_value());
    CHECK_FALSE(cage::read_small_file((dir / "missing").string()).has_value());
    CHECK_FALSE(cage::read_small_file(dir.string()).has_value());  // a directory: read fails
    cage::UniqueFd fd(::open((dir / "small").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    CHECK(cage::read_small_file(fd.get())->size() == 10000);
    fs::remove_all(dir);
}

TEST_CASE("util: UniqueFd owns exactly one descriptor")
{
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    {
        cage::UniqueFd a(fds[0]);
        cage::UniqueFd b(std::move(a));
        CHECK_FALSE(a.valid());
        CHECK(b.get() == fds[0]);
        cage::UniqueFd c;
        c = std::move(b);
        CHECK(c.get() == fds[0]);
        int raw = c.release();
        CHECK_FALSE(c.valid());
        c.reset(raw);
    }
    CHECK(::fcntl(fds[0], F_GETFD) == -1);  // closed exactly once, by c
    ::close(fds[1]);
}

TEST_CASE("sha256: known vectors, in one piece and in parts")
{
    CHECK(cage::to_hex(cage::sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(cage::to_hex(cage::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cage::Sha256 parts;
    parts.update("ab");
    parts.update("");
    parts.update("c");
    CHECK(parts.finish() == cage::sha256("abc"));
}
