#include <doctest/doctest.h>

#include "cli/options.hpp"

using namespace cage::cli;
using namespace std::chrono_literals;

namespace {
cage::Expected<RunOptions> parse(std::vector<std::string> args)
{
    return parse_run_options(args);
}
}  // namespace

TEST_CASE("durations")
{
    CHECK(*parse_duration("30s") == 30s);
    CHECK(*parse_duration("15m") == 15min);
    CHECK(*parse_duration("1h") == 1h);
    CHECK(*parse_duration("250ms") == 250ms);
    CHECK(*parse_duration("45") == 45s);
    for (auto bad : {"", "s", "10x", "0", "-5", "99999999999999999999h", "5 s"})
        CHECK_FALSE(parse_duration(bad).has_value());
}

TEST_CASE("users")
{
    CHECK(*parse_user("1000") == std::pair<std::uint32_t, std::uint32_t>{1000, 1000});
    CHECK(*parse_user("1000:100") == std::pair<std::uint32_t, std::uint32_t>{1000, 100});
    for (auto bad : {"abc", ":5", "5:", "4294967295", "-1"})
        CHECK_FALSE(parse_user(bad).has_value());
}

TEST_CASE("volumes")
{
    CHECK(*parse_volume("/a:/b") == Volume{"/a", "/b", false});
    CHECK(*parse_volume("/a:/b:ro") == Volume{"/a", "/b", true});
    CHECK(*parse_volume("/a:/b:rw") == Volume{"/a", "/b", false});
    for (auto bad : {"a", "/a:rel", "/a:/b:xx", ":/b", "/a:"})
        CHECK_FALSE(parse_volume(bad).has_value());
}

TEST_CASE("run options: both option forms, short options, and where the command starts")
{
    auto options = parse({"--rootfs", "/r", "--workdir=/src", "-v", "/a:/b:ro", "-e", "K=V", "-u", "0:0",
                          "-w", "/ws", "-T", "--timeout=2m", "--network", "host", "ls", "-la", "--", "x"});
    REQUIRE(options.has_value());
    CHECK(options->rootfs == "/r");
    CHECK(options->workdir == "/src");
    CHECK(options->volumes == std::vector<Volume>{{"/a", "/b", true}});
    CHECK(options->env == std::vector<std::string>{"K=V"});
    CHECK(options->uid == 0);
    CHECK(options->workspace == "/ws");
    CHECK(options->tty == TtyMode::never);
    CHECK(options->timeout == 2min);
    CHECK(options->host_network);
    CHECK(options->command == std::vector<std::string>{"ls", "-la", "--", "x"});

    auto separated = parse({"--rootfs", "/r", "--", "-weird", "arg"});
    REQUIRE(separated.has_value());
    CHECK(separated->command == std::vector<std::string>{"-weird", "arg"});
    CHECK(parse({"--help"})->help);
}

TEST_CASE("run options: errors are usage errors with exit 125")
{
    for (auto args : std::vector<std::vector<std::string>>{
             {"ls"},                                   // no rootfs
             {"--rootfs", "/r"},                       // no command
             {"--rootfs", "/r", "--bogus", "ls"},      // unknown option
             {"--rootfs", "/r", "--network", "x", "ls"},
             {"--rootfs", "/r", "--env", "=x", "ls"},
             {"--rootfs", "/r", "--workdir", "rel", "ls"},
             {"--rootfs"},                             // missing value
         }) {
        auto options = parse(args);
        REQUIRE_FALSE(options.has_value());
        CHECK(options.error().exit_code == 125);
        CHECK(options.error().hint == "see 'cage run --help'");
    }
}
