// The user-mode network's pure part: which line of slirp4netns's output says why it failed.
#include <doctest/doctest.h>

#include "runtime/usernet.hpp"

using cage::usernet::failure_line;

TEST_CASE("usernet: the line that says why slirp4netns failed, its warnings and progress skipped")
{
    // As slirp4netns 1.2.0 prints it for a user who cannot open /dev/net/tun.
    CHECK(failure_line("WARNING: Support for seccomp is experimental\nopen(\"/dev/net/tun\"): Permission denied\n"
                       "child failed(1)\n") == "open(\"/dev/net/tun\"): Permission denied");
    CHECK(failure_line("sent tapfd=5 for tap0\nreceived tapfd=5\nWARNING: x\nsetns(CLONE_NEWNET): Invalid argument\n") ==
          "setns(CLONE_NEWNET): Invalid argument");
    // Only its summary: better than nothing.
    CHECK(failure_line("WARNING: Support for seccomp is experimental\nchild failed(1)\n") == "child failed(1)");
    CHECK(failure_line("") == "");
    CHECK(failure_line("\n\nWARNING: only a warning\n") == "");
    CHECK(failure_line("cannot execute slirp4netns") == "cannot execute slirp4netns");
}
