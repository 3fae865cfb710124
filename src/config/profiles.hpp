// Agent profiles: which image a command runs in, and whose persistent home it gets.
//
// profiles/agents/*.yaml (built into cage) name a profile, its image and the commands that
// select it; ~/.config/cage/config.yaml may override images under `images:`, by command or by
// profile name (`default:` for commands no profile names). See cage-build(1).
#pragma once

#include <cage/error.hpp>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cage::config {

struct AgentProfile {
    std::string name;
    std::string image;
    std::vector<std::string> commands;
    // The network the agent runs with unless --network says otherwise: "none", or
    // "slirp4netns" for an agent that needs its vendor's API (where slirp4netns cannot be
    // used, cage warns and runs it with none).
    std::string network = "none";
    // Variables of the caller's environment the agent gets when they are set there (its API
    // key, say), as with --env NAME.
    std::vector<std::string> env;
    bool operator==(const AgentProfile&) const = default;
};

struct Profiles {
    std::vector<AgentProfile> agents;
    std::map<std::string, std::string, std::less<>> images;  // overrides: command or profile -> image
};

// The profile and image a command runs with.
struct Choice {
    std::string profile;
    std::string image;
    bool operator==(const Choice&) const = default;
};

inline constexpr std::string_view default_profile = "base";

// One profile file; origin names it in errors.
Expected<AgentProfile> parse_agent_profile(std::string_view text, const std::string& origin);
// The `images:` mapping of a user config file (other keys are left to their readers).
Expected<std::map<std::string, std::string, std::less<>>> parse_image_overrides(std::string_view text,
                                                                                const std::string& origin);

// Built-in profiles plus the overrides; two profiles claiming one command is an error.
Expected<Profiles> make_profiles(std::vector<AgentProfile> agents,
                                 std::map<std::string, std::string, std::less<>> images);

// COMMAND is matched by its last path component ("/usr/bin/python3" selects python). A
// command no profile names runs in the default profile, "base".
Choice choose(const Profiles& profiles, std::string_view command);

// The profile whose image IMAGE is (as configured, or by its name without registry, tag or
// digest: "localhost/claude:latest" is claude's); else the default profile.
std::string profile_of_image(const Profiles& profiles, std::string_view image);

// The profile named NAME, or none.
const AgentProfile* find_profile(const Profiles& profiles, std::string_view name);

// The profiles built into cage: profiles/agents/*.yaml, parsed and checked by the build
// (src/config/compile_agents.cpp), so that a start parses no YAML for them.
const std::vector<AgentProfile>& builtin_agents();

// The built-in profiles with the overrides of CONFIG_FILE (missing is fine).
Expected<Profiles> load_profiles(const std::string& config_file);
// $XDG_CONFIG_HOME/cage/config.yaml, or ~/.config/cage/config.yaml.
std::string user_config_file();

}  // namespace cage::config
