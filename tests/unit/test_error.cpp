// <cage/error.hpp>: the one error type and the line the CLI prints.
#include <doctest/doctest.h>

#include <cage/error.hpp>

#include <cerrno>
#include <cstring>
#include <string>

using cage::Error;

TEST_CASE("error: message() is \"what: strerror [path]; hint\"")
{
    CHECK(Error{"mount", EPERM, "/proc", "try this", 125}.message() ==
          "mount: Operation not permitted [/proc]; try this");
    CHECK(Error{"mount", EPERM, "/proc", "", 125}.message() == "mount: Operation not permitted [/proc]");
    CHECK(Error{"mount", EPERM, "", "try this", 125}.message() == "mount: Operation not permitted; try this");
    CHECK(Error{"mount", EPERM, "", "", 125}.message() == "mount: Operation not permitted");
    CHECK(Error{"bad option", 0, "--x", "see help", 125}.message() == "bad option [--x]; see help");
    CHECK(Error{"bad option", 0, "", "see help", 125}.message() == "bad option; see help");
    CHECK(Error{"plain", 0, "", "", 125}.message() == "plain");
    // Whatever errno it is, the text is strerror's.
    CHECK(Error{"x", ENOSPC, "", "", 1}.message() == std::string("x: ") + std::strerror(ENOSPC));
}

TEST_CASE("error: errno_error captures errno at the call, plain_error has none")
{
    errno = ENOENT;
    auto from_errno = cage::errno_error("open", "/x");
    CHECK(from_errno.what == "open");
    CHECK(from_errno.errnum == ENOENT);
    CHECK(from_errno.path == "/x");
    CHECK(from_errno.hint.empty());
    CHECK(from_errno.exit_code == cage::exit_cage_error);
    CHECK(from_errno.message() == "open: No such file or directory [/x]");

    errno = EACCES;
    auto no_path = cage::errno_error("chdir");
    CHECK(no_path.errnum == EACCES);
    CHECK(no_path.path.empty());
    CHECK(no_path.message() == "chdir: Permission denied");

    errno = EBADF;  // plain_error ignores errno
    auto plain = cage::plain_error("bad", "/p", "hint");
    CHECK(plain.errnum == 0);
    CHECK(plain.exit_code == 125);
    CHECK(plain.message() == "bad [/p]; hint");
    CHECK(cage::plain_error("bad").message() == "bad");
}

TEST_CASE("error: the exit statuses cage reserves")
{
    CHECK(cage::exit_timeout == 124);
    CHECK(cage::exit_cage_error == 125);
    CHECK(cage::exit_not_executable == 126);
    CHECK(cage::exit_not_found == 127);
    CHECK(Error{}.exit_code == 125);
}

namespace {
cage::Expected<int> half(int value)
{
    if (value % 2 != 0)
        return std::unexpected(cage::plain_error("odd", std::to_string(value)));
    return value / 2;
}
cage::Expected<int> quarter(int value)
{
    int h = CAGE_TRY(half(value));
    return CAGE_TRY(half(h));
}
}  // namespace

TEST_CASE("error: CAGE_TRY yields the value or propagates the error unchanged")
{
    CHECK(*quarter(8) == 2);
    auto odd = quarter(6);
    REQUIRE_FALSE(odd.has_value());
    CHECK(odd.error().what == "odd");
    CHECK(odd.error().path == "3");
}
