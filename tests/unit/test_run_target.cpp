// src/cli/run_target: is the first word of `cage run` an image or a command?
#include <doctest/doctest.h>

#include <stdlib.h>

#include <string>
#include <vector>

#include "cli/run_target.hpp"
#include "temp_dir.hpp"

using cage::sandbox::RunOptions;
using Args = std::vector<std::string>;

namespace {

// An empty image store for the test's duration (CAGE_IMAGE_STORE), removed after.
struct EmptyStore {
    TempDir dir{"cage-unit-store"};
    EmptyStore() { ::setenv("CAGE_IMAGE_STORE", dir.path.c_str(), 1); }
    ~EmptyStore() { ::unsetenv("CAGE_IMAGE_STORE"); }
};

RunOptions word_run(std::string word, Args rest)
{
    RunOptions options;
    options.image = std::move(word);
    options.image_from_word = true;
    options.command = std::move(rest);
    return options;
}

cage::config::Profiles builtin_profiles()
{
    auto profiles = cage::config::load_profiles("/nonexistent/config.yaml");
    REQUIRE(profiles.has_value());
    return *profiles;
}

}  // namespace

TEST_CASE("run target: words with a registry, tag or digest separator are references")
{
    CHECK(cage::cli::reads_like_reference("alpine:3"));
    CHECK(cage::cli::reads_like_reference("ghcr.io/x/y"));
    CHECK(cage::cli::reads_like_reference("x@sha256:00"));
    CHECK_FALSE(cage::cli::reads_like_reference("claude"));
    CHECK_FALSE(cage::cli::reads_like_reference("python3.11"));
}

TEST_CASE("run target: a word that is no stored image is a command in its profile's image")
{
    EmptyStore store;
    auto profiles = builtin_profiles();
    auto claude = word_run("claude", {"--version"});
    cage::cli::choose_target(claude, profiles);
    CHECK(claude.image == "claude");
    CHECK(claude.command == Args{"claude", "--version"});
    CHECK(claude.entrypoint == Args{});  // the command line is exactly what was typed
    CHECK(claude.profile == "claude");

    auto python = word_run("python3", {"-c", "print(6*7)"});
    cage::cli::choose_target(python, profiles);
    CHECK(python.image == "python");
    CHECK(python.command == Args{"python3", "-c", "print(6*7)"});
    CHECK(python.profile == "python");

    auto other = word_run("make", {"test"});
    cage::cli::choose_target(other, profiles);
    CHECK(other.image == "base");
    CHECK(other.command == Args{"make", "test"});
    CHECK(other.profile == "base");
}

TEST_CASE("run target: references and --image stay images; the image picks the profile")
{
    EmptyStore store;
    auto profiles = builtin_profiles();
    auto reference = word_run("localhost/claude:latest", {"--help"});
    cage::cli::choose_target(reference, profiles);
    CHECK(reference.image == "localhost/claude:latest");
    CHECK(reference.command == Args{"--help"});
    CHECK_FALSE(reference.entrypoint);
    CHECK(reference.profile == "claude");

    RunOptions flag;
    flag.image = "gemini";
    flag.command = {"bash"};
    cage::cli::choose_target(flag, profiles);
    CHECK(flag.image == "gemini");
    CHECK(flag.command == Args{"bash"});
    CHECK(flag.profile == "gemini");

    RunOptions rootfs;
    rootfs.rootfs = "/r";
    rootfs.command = {"/usr/bin/node", "x.js"};
    cage::cli::choose_target(rootfs, profiles);
    CHECK(rootfs.profile == "node");
    rootfs.ephemeral_home = true;
    rootfs.profile.clear();
    cage::cli::choose_target(rootfs, profiles);
    CHECK(rootfs.profile.empty());
}
