// src/cli/options: durations, users, volumes and the whole `cage run` command line.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli/options.hpp"

using namespace cage::cli;
using namespace std::chrono_literals;
using Args = std::vector<std::string>;
using Ids = std::pair<std::uint32_t, std::uint32_t>;

namespace {

cage::Expected<RunOptions> parse(const Args& args)
{
    return parse_run_options(args);
}

// The error of a command line that must be refused, as a usage error.
cage::Error refused(const Args& args)
{
    auto options = parse(args);
    REQUIRE_FALSE(options.has_value());
    CHECK(options.error().exit_code == 125);
    CHECK(options.error().errnum == 0);
    CHECK(options.error().hint == "see 'cage run --help'");
    return options.error();
}

}  // namespace

TEST_CASE("options: durations with units, and plain seconds")
{
    CHECK(*parse_duration("30s") == 30s);
    CHECK(*parse_duration("15m") == 15min);
    CHECK(*parse_duration("1h") == 1h);
    CHECK(*parse_duration("250ms") == 250ms);
    CHECK(*parse_duration("45") == 45s);
    CHECK(*parse_duration("1ms") == 1ms);
    CHECK(*parse_duration("007s") == 7s);
    CHECK(*parse_duration("90m") == 90min);
    CHECK(*parse_duration("876000h") == 876000h);  // 100 years, the upper bound
}

TEST_CASE("options: bad durations are usage errors")
{
    for (const std::string bad : {"", "s", "ms", "h", "10x", "10S", "10 s", " 10s", "10s ", "1.5h", "1min", "10sec",
                            "0", "0s", "0ms", "-5", "-5s", "+5", "5ss", "5hm", "0x10", "99999999999999999999",
                            "99999999999999999999h", "18446744073709551615ms", "876001h", "3153600001s"}) {
        CAPTURE(bad);
        auto duration = parse_duration(bad);
        REQUIRE_FALSE(duration.has_value());
        CHECK(duration.error().exit_code == 125);
        CHECK(duration.error().path == bad);
    }
}

TEST_CASE("options: users are UID or UID:GID")
{
    CHECK(*parse_user("1000") == Ids{1000, 1000});
    CHECK(*parse_user("1000:100") == Ids{1000, 100});
    CHECK(*parse_user("0") == Ids{0, 0});
    CHECK(*parse_user("0:0") == Ids{0, 0});
    CHECK(*parse_user("4294967294:4294967294") == Ids{4294967294U, 4294967294U});
    for (const std::string bad : {"", "abc", ":5", "5:", ":", "4294967295", "5:4294967295", "4294967296", "-1",
                            "+1", " 1", "1 ", "1:2:3", "1000:abc", "root", "0x10", "99999999999999999999"}) {
        CAPTURE(bad);
        auto user = parse_user(bad);
        REQUIRE_FALSE(user.has_value());
        CHECK(user.error().exit_code == 125);
    }
}

TEST_CASE("options: volumes are SRC:DST[:ro|:rw]")
{
    CHECK(*parse_volume("/a:/b") == Volume{"/a", "/b", false});
    CHECK(*parse_volume("/a:/b:ro") == Volume{"/a", "/b", true});
    CHECK(*parse_volume("/a:/b:rw") == Volume{"/a", "/b", false});
    CHECK(*parse_volume("rel/src:/dst") == Volume{"rel/src", "/dst", false});  // resolved later
    CHECK(*parse_volume("/a:/") == Volume{"/a", "/", false});
    for (const std::string bad : {"", "a", "/a", ":/b", ":/b:ro", "/a:", "/a:rel", "/a:rel:ro", "/a:/b:xx", "/a:/b:",
                            "/a:/b:RO", "/a:/b:ro:rw", "/a:/b:ro:"}) {
        CAPTURE(bad);
        auto volume = parse_volume(bad);
        REQUIRE_FALSE(volume.has_value());
        CHECK(volume.error().exit_code == 125);
    }
}

TEST_CASE("options: defaults")
{
    auto options = parse({"--rootfs", "/r", "true"});
    REQUIRE(options.has_value());
    CHECK(options->rootfs == "/r");
    CHECK_FALSE(options->workspace.has_value());
    CHECK(options->workdir == "/work");
    CHECK(options->volumes.empty());
    CHECK(options->uid == 1000);
    CHECK(options->gid == 1000);
    CHECK_FALSE(options->hostname.has_value());
    CHECK_FALSE(options->name.has_value());
    CHECK_FALSE(options->network.has_value());
    CHECK(options->env.empty());
    CHECK_FALSE(options->read_write);
    CHECK_FALSE(options->keep);
    CHECK(options->timeout == 0ms);
    CHECK(options->tty == TtyMode::automatic);
    CHECK_FALSE(options->help);
    CHECK(options->command == Args{"true"});
}

TEST_CASE("options: every option in the separate-value form")
{
    auto options = parse({"--rootfs", "/r", "--workspace", "/ws", "--workdir", "/src", "--volume", "/a:/b:ro",
                          "--user", "0:5", "--env", "K=V", "--hostname", "box", "--name", "n1", "--network",
                          "host", "--read-write", "--keep", "--timeout", "2m", "--no-tty", "cmd"});
    REQUIRE(options.has_value());
    CHECK(options->rootfs == "/r");
    CHECK(options->workspace == "/ws");
    CHECK(options->workdir == "/src");
    CHECK(options->volumes == std::vector<Volume>{{"/a", "/b", true}});
    CHECK(options->uid == 0);
    CHECK(options->gid == 5);
    CHECK(options->env == Args{"K=V"});
    CHECK(options->hostname == "box");
    CHECK(options->name == "n1");
    CHECK(options->network == cage::runtime::Network::host);
    CHECK(options->read_write);
    CHECK(options->keep);
    CHECK(options->timeout == 2min);
    CHECK(options->tty == TtyMode::never);
    CHECK(options->command == Args{"cmd"});
}

TEST_CASE("options: every value option in the --name=value form")
{
    auto options = parse({"--rootfs=/r", "--workspace=/ws", "--workdir=/src", "--volume=/a:/b", "--user=7",
                          "--env=K=V=W", "--hostname=box", "--name=n1", "--network=none", "--timeout=250ms",
                          "cmd"});
    REQUIRE(options.has_value());
    CHECK(options->rootfs == "/r");
    CHECK(options->workspace == "/ws");
    CHECK(options->workdir == "/src");
    CHECK(options->volumes == std::vector<Volume>{{"/a", "/b", false}});
    CHECK(options->uid == 7);
    CHECK(options->gid == 7);
    CHECK(options->env == Args{"K=V=W"});
    CHECK(options->hostname == "box");
    CHECK(options->name == "n1");
    CHECK(options->network == cage::runtime::Network::none);
    CHECK(options->timeout == 250ms);
}

TEST_CASE("options: short options -v -e -u -w -T -h")
{
    auto options = parse({"-v", "/a:/b:ro", "-e", "K=V", "-u", "0:0", "-w", "/ws", "-T", "--rootfs", "/r",
                          "-v", "/c:/d", "-e", "HOME", "cmd"});
    REQUIRE(options.has_value());
    CHECK(options->volumes == std::vector<Volume>{{"/a", "/b", true}, {"/c", "/d", false}});
    CHECK(options->env == Args{"K=V", "HOME"});
    CHECK(options->uid == 0);
    CHECK(options->gid == 0);
    CHECK(options->workspace == "/ws");
    CHECK(options->tty == TtyMode::never);
    auto help = parse({"-h"});
    REQUIRE(help.has_value());
    CHECK(help->help);
}

TEST_CASE("options: a later value replaces an earlier one; volumes and env accumulate")
{
    auto options = parse({"--rootfs", "/r1", "--rootfs=/r2", "-u", "1", "--user", "2:3", "--env", "A=1", "-e",
                          "A=2", "cmd"});
    REQUIRE(options.has_value());
    CHECK(options->rootfs == "/r2");
    CHECK(options->uid == 2);
    CHECK(options->gid == 3);
    CHECK(options->env == Args{"A=1", "A=2"});
}

TEST_CASE("options: the command starts at the first non-option word and keeps its own options")
{
    auto options = parse({"--rootfs", "R", "ls", "-la"});
    REQUIRE(options.has_value());
    CHECK(options->command == Args{"ls", "-la"});

    auto everything_after = parse({"--rootfs", "/r", "sh", "-c", "echo hi", "--rootfs", "/x", "--help", "-T",
                                   "--", "y"});
    REQUIRE(everything_after.has_value());
    CHECK(everything_after->rootfs == "/r");
    CHECK_FALSE(everything_after->help);
    CHECK(everything_after->tty == TtyMode::automatic);
    CHECK(everything_after->command == Args{"sh", "-c", "echo hi", "--rootfs", "/x", "--help", "-T", "--", "y"});
}

TEST_CASE("options: -- ends the options, even before a word that looks like one")
{
    auto options = parse({"--rootfs", "/r", "--", "-weird", "--rootfs", "x"});
    REQUIRE(options.has_value());
    CHECK(options->command == Args{"-weird", "--rootfs", "x"});
    auto only_separator = parse({"--rootfs", "/r", "--", "--"});
    REQUIRE(only_separator.has_value());
    CHECK(only_separator->command == Args{"--"});
    // A value that is "--" is a value, not the separator.
    auto value = parse({"--rootfs", "--", "cmd"});
    REQUIRE(value.has_value());
    CHECK(value->rootfs == "--");
    CHECK(value->command == Args{"cmd"});
}

TEST_CASE("options: --help needs neither a rootfs nor a command")
{
    for (const Args& args : {Args{"--help"}, Args{"-h"}, Args{"--help", "--rootfs", "/r"}, Args{"-T", "--help"},
                             Args{"--help", "ls"}}) {
        auto options = parse(args);
        REQUIRE(options.has_value());
        CHECK(options->help);
    }
    CHECK(parse({"--help", "ls", "-l"})->command == Args{"ls", "-l"});
    CHECK(run_usage != nullptr);
    CHECK(std::string(run_usage).starts_with("Usage: cage run"));
}

TEST_CASE("options: neither an image nor a rootfs is an error")
{
    auto error = refused({});
    CHECK(error.what == "no image or root filesystem given: use IMAGE or --rootfs DIR");
    refused({"-T"});
    refused({"--rootfs=", "ls"});
    refused({"--rootfs", "", "ls"});
    refused({"--image=", "ls"});
    CHECK(refused({"--rootfs", "/r", "--image", "alpine", "ls"}).what == "--rootfs and --image exclude each other");
}

TEST_CASE("options: the first word is the image when there is no --rootfs")
{
    auto bare = parse({"alpine"});
    REQUIRE(bare.has_value());
    CHECK(bare->image == "alpine");
    CHECK(bare->image_from_word);
    CHECK(bare->command.empty());
    CHECK_FALSE(bare->entrypoint);
    auto with_command = parse({"-T", "-u", "0", "ghcr.io/x/y:1", "sh", "-c", "id"});
    REQUIRE(with_command.has_value());
    CHECK(with_command->image == "ghcr.io/x/y:1");
    CHECK(with_command->command == Args{"sh", "-c", "id"});
    CHECK(with_command->user_given);
    CHECK_FALSE(with_command->workdir_given);
    auto flag = parse({"--image", "alpine", "--workdir", "/src", "ls"});
    REQUIRE(flag.has_value());
    CHECK(flag->image == "alpine");
    CHECK(flag->command == Args{"ls"});
    CHECK(flag->workdir_given);
    CHECK_FALSE(flag->user_given);
    CHECK_FALSE(flag->image_from_word);
    auto separator = parse({"--", "alpine", "--weird"});
    REQUIRE(separator.has_value());
    CHECK(separator->image == "alpine");
    CHECK(separator->command == Args{"--weird"});
}

TEST_CASE("options: a missing command is an error")
{
    CHECK(refused({"--rootfs", "/r"}).what == "no command given");
    refused({"--rootfs", "/r", "--"});
    refused({"--rootfs", "/r", "-T"});
}

TEST_CASE("options: unknown options are errors")
{
    for (const Args& args : {Args{"--rootfs", "/r", "--bogus", "ls"}, Args{"--rootfs", "/r", "-x", "ls"},
                             Args{"--rootfs", "/r", "-", "ls"}, Args{"--rootfsx=/r", "ls"},
                             Args{"--rootfs", "/r", "--read-write=yes", "ls"},
                             Args{"--rootfs", "/r", "--no-tty=1", "ls"}, Args{"--rootfs", "/r", "-v=/a:/b", "ls"},
                             Args{"--rootfs", "/r", "-vT", "ls"}, Args{"--rootfs", "/r", "--env", "K", "-X", "ls"}}) {
        CAPTURE(args);
        auto error = refused(args);
        CHECK(error.what == "unknown option");
    }
    CHECK(refused({"--rootfs", "/r", "--bogus", "ls"}).path == "--bogus");
}

TEST_CASE("options: an option at the end without its value is an error")
{
    for (const std::string option : {"--rootfs", "--workspace", "-w", "--workdir", "--volume", "-v", "--user", "-u",
                               "--env", "-e", "--hostname", "--name", "--network", "--timeout"}) {
        CAPTURE(option);
        auto error = refused({"--rootfs", "/r", option});
        CHECK(error.what == "option needs a value");
        CHECK(error.path == option);
    }
}

TEST_CASE("options: --network is none, slirp4netns or host; the last one given counts")
{
    auto host = parse({"--rootfs", "/r", "--network", "host", "ls"});
    REQUIRE(host.has_value());
    CHECK(host->network == cage::runtime::Network::host);
    auto none = parse({"--rootfs", "/r", "--network=host", "--network", "none", "ls"});
    REQUIRE(none.has_value());
    CHECK(none->network == cage::runtime::Network::none);
    auto user = parse({"--rootfs", "/r", "--network=slirp4netns", "ls"});
    REQUIRE(user.has_value());
    CHECK(user->network == cage::runtime::Network::slirp4netns);
    for (const std::string bad : {"bad", "", "Host", "bridge", "slirp", "pasta"}) {
        CAPTURE(bad);
        auto error = refused({"--rootfs", "/r", "--network", bad, "ls"});
        CHECK(error.what == "invalid --network (use none, slirp4netns or host)");
    }
}

TEST_CASE("options: --env needs a name")
{
    for (const std::string bad : {"=x", "=", ""}) {
        CAPTURE(bad);
        refused({"--rootfs", "/r", "--env", bad, "ls"});
        refused({"--rootfs", "/r", "-e", bad, "ls"});
    }
    refused({"--rootfs", "/r", "--env=", "ls"});
    refused({"--rootfs", "/r", "--env==x", "ls"});
    auto empty_value = parse({"--rootfs", "/r", "-e", "K=", "ls"});
    REQUIRE(empty_value.has_value());
    CHECK(empty_value->env == Args{"K="});
}

TEST_CASE("options: values are validated where they are parsed")
{
    refused({"--rootfs", "/r", "--workdir", "rel", "ls"});
    refused({"--rootfs", "/r", "--workdir=", "ls"});
    refused({"--rootfs", "/r", "--user", "abc", "ls"});
    refused({"--rootfs", "/r", "-u", "4294967295", "ls"});
    refused({"--rootfs", "/r", "--volume", "nocolon", "ls"});
    refused({"--rootfs", "/r", "-v", "/a:rel", "ls"});
    refused({"--rootfs", "/r", "--timeout", "0", "ls"});
    refused({"--rootfs", "/r", "--timeout=10x", "ls"});
    // A bad value is refused even when --help is present.
    refused({"--help", "--timeout", "bogus"});
}

TEST_CASE("options: --ephemeral-home opts out of the persistent agent home")
{
    auto plain = parse({"--rootfs", "/r", "--", "claude"});
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->ephemeral_home);
    CHECK(plain->profile.empty());  // chosen by cmd_run from the command, not by the parser
    auto ephemeral = parse({"--rootfs", "/r", "--ephemeral-home", "claude", "--ephemeral-home"});
    REQUIRE(ephemeral.has_value());
    CHECK(ephemeral->ephemeral_home);
    CHECK(ephemeral->command == Args{"claude", "--ephemeral-home"});
    CHECK_FALSE(parse({"--rootfs", "/r", "--ephemeral-home=yes", "sh"}).has_value());
}

TEST_CASE("options: --entrypoint replaces the image's, an empty one removes it")
{
    auto one = parse({"--image", "claude", "--entrypoint", "sh", "--", "-c", "id"});
    REQUIRE(one.has_value());
    CHECK(one->entrypoint == Args{"sh"});
    CHECK(one->command == Args{"-c", "id"});
    auto none = parse({"--entrypoint=", "claude", "bash"});
    REQUIRE(none.has_value());
    CHECK(none->entrypoint == Args{});
    CHECK(none->image == "claude");
    CHECK(none->command == Args{"bash"});
}
