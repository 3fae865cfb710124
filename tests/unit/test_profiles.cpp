// src/config/profiles: agent profile files, image overrides, and command -> profile/image.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

#include "config/profiles.hpp"

using namespace cage::config;
using Images = std::map<std::string, std::string, std::less<>>;

namespace {

Profiles builtin(Images images = {})
{
    auto profiles = make_profiles(builtin_agents(), std::move(images));
    REQUIRE(profiles.has_value());
    return *profiles;
}

}  // namespace

TEST_CASE("profiles: a profile file names a profile, its image and its commands")
{
    auto profile = parse_agent_profile("name: python\nimage: python\ncommands: [python, python3, pip]\n", "p.yaml");
    REQUIRE(profile.has_value());
    CHECK(*profile == AgentProfile{"python", "python", {"python", "python3", "pip"}});
    auto no_commands = parse_agent_profile("name: x\nimage: registry.example/team/x:1.2\n", "x.yaml");
    REQUIRE(no_commands.has_value());
    CHECK(no_commands->image == "registry.example/team/x:1.2");
    CHECK(no_commands->commands.empty());
}

TEST_CASE("profiles: bad profile files are refused with their origin")
{
    for (const std::string bad : {"", "- a\n- b\n", "name: x\n", "image: x\n", "name: x\nimage: y\nextra: 1\n",
                                  "name: [x]\nimage: y\n", "name: ../x\nimage: y\n", "name: x\nimage: y\ncommands: sh\n",
                                  "name: x\nimage: y\ncommands: [a/b]\n", "name: x\nimage: 'a b'\n",
                                  "name: x\nimage: y\ncommands: [[a]]\n", "name: x\nimage: y\ncommands: ['-rf']\n",
                                  "name: [unclosed\n", "name: x\nimage: y\ncommands: [..]\n",
                                  "name: x\nimage: y\nnetwork: host\n", "name: x\nimage: y\nnetwork: [none]\n",
                                  "name: x\nimage: y\nnetwork: bridge\n", "name: x\nimage: y\nenv: K\n",
                                  "name: x\nimage: y\nenv: [K=V]\n", "name: x\nimage: y\nenv: [1K]\n",
                                  "name: x\nimage: y\nenv: [A.B]\n", "name: x\nimage: y\nenv: [[K]]\n"}) {
        CAPTURE(bad);
        auto profile = parse_agent_profile(bad, "bad.yaml");
        REQUIRE_FALSE(profile.has_value());
        CHECK(profile.error().exit_code == 125);
        CHECK(profile.error().path.starts_with("bad.yaml"));
    }
}

TEST_CASE("profiles: a profile may ask for the user-mode network; none is the default")
{
    auto online = parse_agent_profile("name: a\nimage: a\nnetwork: slirp4netns\n", "a.yaml");
    REQUIRE(online.has_value());
    CHECK(online->network == "slirp4netns");
    auto offline = parse_agent_profile("name: b\nimage: b\n", "b.yaml");
    REQUIRE(offline.has_value());
    CHECK(offline->network == "none");
    // The agents that talk to their vendor's API ask for it; the toolchains do not.
    auto profiles = builtin();
    for (const char* agent : {"claude", "gemini", "codex", "opencode", "kilocode"}) {
        CAPTURE(agent);
        REQUIRE(find_profile(profiles, agent));
        CHECK(find_profile(profiles, agent)->network == "slirp4netns");
    }
    for (const char* toolchain : {"base", "python", "node", "go"}) {
        CAPTURE(toolchain);
        REQUIRE(find_profile(profiles, toolchain));
        CHECK(find_profile(profiles, toolchain)->network == "none");
    }
    CHECK(find_profile(profiles, "nobody") == nullptr);
}

TEST_CASE("profiles: a profile names the caller's variables its agent gets; the agents name their keys")
{
    auto profile = parse_agent_profile("name: a\nimage: a\nenv: [A_KEY, _B2]\n", "a.yaml");
    REQUIRE(profile.has_value());
    CHECK(profile->env == std::vector<std::string>{"A_KEY", "_B2"});
    CHECK(parse_agent_profile("name: b\nimage: b\n", "b.yaml")->env.empty());
    auto profiles = builtin();
    auto names = [&](const char* agent) { return find_profile(profiles, agent)->env; };
    CHECK(names("claude") == std::vector<std::string>{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                                                      "CLAUDE_CODE_OAUTH_TOKEN"});
    CHECK(names("codex") == std::vector<std::string>{"OPENAI_API_KEY", "OPENAI_BASE_URL"});
    CHECK(names("base").empty());
    CHECK(names("python").empty());
}

TEST_CASE("profiles: the built-in profiles map the agents and toolchains")
{
    auto profiles = builtin();
    CHECK(choose(profiles, "claude") == Choice{"claude", "claude"});
    CHECK(choose(profiles, "gemini") == Choice{"gemini", "gemini"});
    CHECK(choose(profiles, "codex") == Choice{"codex", "codex"});
    CHECK(choose(profiles, "opencode") == Choice{"opencode", "opencode"});
    CHECK(choose(profiles, "kilo") == Choice{"kilocode", "kilocode"});
    CHECK(choose(profiles, "kilocode") == Choice{"kilocode", "kilocode"});
    for (const char* command : {"python", "python3", "pip", "/usr/bin/python3"})
        CHECK(choose(profiles, command) == Choice{"python", "python"});
    for (const char* command : {"node", "npm", "npx"})
        CHECK(choose(profiles, command) == Choice{"node", "node"});
    CHECK(choose(profiles, "go") == Choice{"go", "go"});
    CHECK(choose(profiles, "bash") == Choice{"base", "base"});
    CHECK(choose(profiles, "/bin/sh") == Choice{"base", "base"});
    CHECK(choose(profiles, "make") == Choice{"base", "base"});
    CHECK(choose(profiles, "claude-not") == Choice{"base", "base"});
    CHECK(choose(profiles, "") == Choice{"base", "base"});
}

TEST_CASE("profiles: the user's images: override by command, then by profile, then default")
{
    auto profiles = builtin({{"python3", "py3:dev"}, {"python", "py:team"}, {"claude", "claude:pinned"},
                             {"default", "debian-full"}});
    CHECK(choose(profiles, "python3") == Choice{"python", "py3:dev"});
    CHECK(choose(profiles, "pip") == Choice{"python", "py:team"});
    CHECK(choose(profiles, "claude") == Choice{"claude", "claude:pinned"});
    CHECK(choose(profiles, "node") == Choice{"node", "node"});
    CHECK(choose(profiles, "make") == Choice{"base", "debian-full"});
    CHECK(choose(profiles, "bash") == Choice{"base", "base"});  // bash belongs to the base profile
    CHECK(choose(builtin({{"base", "mine"}}), "bash") == Choice{"base", "mine"});
    CHECK(choose(builtin({{"base", "mine"}}), "make") == Choice{"base", "mine"});
}

TEST_CASE("profiles: the images: mapping of a configuration file")
{
    auto images = parse_image_overrides("images:\n  claude: claude:2\n  default: base:1\nnetwork: none\n", "c.yaml");
    REQUIRE(images.has_value());
    CHECK(*images == Images{{"claude", "claude:2"}, {"default", "base:1"}});
    CHECK(parse_image_overrides("", "c.yaml")->empty());
    CHECK(parse_image_overrides("network: host\n", "c.yaml")->empty());
    CHECK(parse_image_overrides("images:\n", "c.yaml")->empty());
    for (const std::string bad : {"images: [a]\n", "images: x\n", "images:\n  claude: [x]\n", "- 1\n",
                                  "images:\n  'a b': x\n", "images:\n  claude: 'has space'\n"}) {
        CAPTURE(bad);
        auto refused = parse_image_overrides(bad, "c.yaml");
        REQUIRE_FALSE(refused.has_value());
        CHECK(refused.error().path.starts_with("c.yaml"));
    }
}

TEST_CASE("profiles: two profiles may not claim one command, nor share a name")
{
    auto clash = make_profiles({{"a", "a", {"tool"}}, {"b", "b", {"tool"}}}, {});
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().what.find("tool") != std::string::npos);
    CHECK_FALSE(make_profiles({{"a", "a", {}}, {"a", "b", {}}}, {}).has_value());
}

TEST_CASE("profiles: load_profiles reads the user's configuration file, or none")
{
    char path[] = "/tmp/cage-unit-config.XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    std::string text = "images:\n  go: golang:1.22\n";
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    auto profiles = load_profiles(path);
    REQUIRE(profiles.has_value());
    CHECK(choose(*profiles, "go") == Choice{"go", "golang:1.22"});
    ::unlink(path);
    auto missing = load_profiles(path);
    REQUIRE(missing.has_value());
    CHECK(choose(*missing, "go") == Choice{"go", "go"});
    auto directory = load_profiles("/tmp");
    CHECK_FALSE(directory.has_value());
}

TEST_CASE("profiles: an image's profile is the one whose image it is")
{
    auto profiles = builtin();
    CHECK(profile_of_image(profiles, "claude") == "claude");
    CHECK(profile_of_image(profiles, "localhost/claude:latest") == "claude");
    CHECK(profile_of_image(profiles, "localhost/python@sha256:0123") == "python");
    CHECK(profile_of_image(profiles, "kilocode") == "kilocode");
    CHECK(profile_of_image(profiles, "docker.io/library/alpine:3") == "base");
    CHECK(profile_of_image(profiles, "claudette") == "base");
    auto configured = builtin({{"claude", "ghcr.io/me/agent:2"}});
    CHECK(profile_of_image(configured, "ghcr.io/me/agent:2") == "claude");
    CHECK(profile_of_image(configured, "agent") == "claude");
}
