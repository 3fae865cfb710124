#include "config/profiles.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <initializer_list>
#include <set>

#include "sandbox/sandbox.hpp"

namespace cage::config {
namespace {

Error invalid(const std::string& origin, const std::string& what, const YAML::Mark& mark = YAML::Mark::null_mark())
{
    std::string where = origin;
    if (!mark.is_null())
        where += ":" + std::to_string(mark.line + 1);
    return plain_error("invalid profile: " + what, where);
}

Expected<YAML::Node> load_yaml(std::string_view text, const std::string& origin)
{
    try {
        return YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        return std::unexpected(invalid(origin, "not YAML (" + e.msg + ")", e.mark));
    }
}

// A name, command or image reference: no spaces, slashes only in image references.
bool plain_word(const std::string& word, bool slashes)
{
    if (word.empty() || word.size() > 255 || word.front() == '-' || word.front() == '.')
        return false;
    for (char c : word) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':' || c == '@' || (slashes && c == '/');
        if (!ok)
            return false;
    }
    return true;
}

// [A-Za-z_][A-Za-z0-9_]*
bool variable_name(std::string_view name)
{
    if (name.empty() || (name.front() >= '0' && name.front() <= '9'))
        return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    return true;
}

Expected<std::string> word(const YAML::Node& node, const std::string& key, const std::string& origin, bool slashes)
{
    if (!node || !node.IsScalar())
        return std::unexpected(invalid(origin, "'" + key + "' must be a string", node ? node.Mark() : YAML::Mark::null_mark()));
    auto value = node.Scalar();
    if (!plain_word(value, slashes))
        return std::unexpected(invalid(origin, "'" + key + "': not a valid name: " + value, node.Mark()));
    return value;
}

std::string_view last_component(std::string_view command)
{
    auto slash = command.find_last_of('/');
    return slash == std::string_view::npos ? command : command.substr(slash + 1);
}

}  // namespace

Expected<AgentProfile> parse_agent_profile(std::string_view text, const std::string& origin)
{
    auto root = CAGE_TRY(load_yaml(text, origin));
    if (!root.IsMap())
        return std::unexpected(invalid(origin, "a profile is a mapping with name, image and commands"));
    for (const auto& entry : root) {
        auto key = entry.first.as<std::string>();
        if (key != "name" && key != "image" && key != "commands" && key != "network" && key != "env")
            return std::unexpected(invalid(origin, "unknown key '" + key + "'", entry.first.Mark()));
    }
    AgentProfile profile;
    profile.name = CAGE_TRY(word(root["name"], "name", origin, false));
    if (!sandbox::valid_name(profile.name))
        return std::unexpected(invalid(origin, "'name' must be letters, digits, '-' and '.': " + profile.name));
    profile.image = CAGE_TRY(word(root["image"], "image", origin, true));
    auto commands = root["commands"];
    if (commands && !commands.IsSequence())
        return std::unexpected(invalid(origin, "'commands' must be a list", commands.Mark()));
    for (const auto& command : commands)
        profile.commands.push_back(CAGE_TRY(word(command, "commands", origin, false)));
    auto env = root["env"];
    if (env && !env.IsSequence())
        return std::unexpected(invalid(origin, "'env' must be a list of variable names", env.Mark()));
    for (const auto& name : env) {
        profile.env.push_back(CAGE_TRY(word(name, "env", origin, false)));
        if (!variable_name(profile.env.back()))
            return std::unexpected(invalid(origin, "'env': not a variable name: " + profile.env.back(), name.Mark()));
    }
    if (auto network = root["network"]) {
        profile.network = CAGE_TRY(word(network, "network", origin, false));
        if (profile.network != "none" && profile.network != "slirp4netns")
            return std::unexpected(invalid(origin, "'network' must be none or slirp4netns", network.Mark()));
    }
    return profile;
}

Expected<std::map<std::string, std::string, std::less<>>> parse_image_overrides(std::string_view text,
                                                                                const std::string& origin)
{
    auto root = CAGE_TRY(load_yaml(text, origin));
    std::map<std::string, std::string, std::less<>> images;
    if (root.IsNull())
        return images;
    if (!root.IsMap())
        return std::unexpected(invalid(origin, "the configuration is a mapping"));
    auto node = root["images"];
    if (!node || node.IsNull())
        return images;
    if (!node.IsMap())
        return std::unexpected(invalid(origin, "'images' maps commands or profiles to images", node.Mark()));
    for (const auto& entry : node) {
        auto key = CAGE_TRY(word(entry.first, "images", origin, false));
        images[key] = CAGE_TRY(word(entry.second, "images: " + key, origin, true));
    }
    return images;
}

Expected<Profiles> make_profiles(std::vector<AgentProfile> agents,
                                 std::map<std::string, std::string, std::less<>> images)
{
    std::set<std::string, std::less<>> names;
    std::map<std::string, std::string, std::less<>> owners;
    for (const auto& agent : agents) {
        if (!names.insert(agent.name).second)
            return std::unexpected(plain_error("two agent profiles are named " + agent.name));
        for (const auto& command : agent.commands)
            if (auto [it, fresh] = owners.emplace(command, agent.name); !fresh)
                return std::unexpected(plain_error("agent profiles " + it->second + " and " + agent.name +
                                                   " both claim the command " + command));
    }
    return Profiles{std::move(agents), std::move(images)};
}

namespace {

// An override for the first of KEYS that the configuration names, or FALLBACK.
std::string overridden(const Profiles& profiles, std::initializer_list<std::string_view> keys, std::string fallback)
{
    for (auto key : keys)
        if (auto it = profiles.images.find(key); it != profiles.images.end())
            return it->second;
    return fallback;
}

}  // namespace

Choice choose(const Profiles& profiles, std::string_view command)
{
    auto name = last_component(command);
    std::string base_image(default_profile);
    for (const auto& agent : profiles.agents) {
        if (agent.name == default_profile)
            base_image = agent.image;
        for (const auto& claimed : agent.commands)
            if (claimed == name)
                return {agent.name, overridden(profiles, {name, agent.name}, agent.image)};
    }
    return {std::string(default_profile), overridden(profiles, {name, "default", default_profile}, base_image)};
}

namespace {

// "localhost/claude:latest" -> "claude"; "claude@sha256:..." -> "claude".
std::string_view image_name(std::string_view reference)
{
    reference = reference.substr(0, reference.find('@'));
    auto name = last_component(reference);
    return name.substr(0, name.find(':'));
}

}  // namespace

const AgentProfile* find_profile(const Profiles& profiles, std::string_view name)
{
    for (const auto& agent : profiles.agents)
        if (agent.name == name)
            return &agent;
    return nullptr;
}

std::string profile_of_image(const Profiles& profiles, std::string_view image)
{
    for (const auto& agent : profiles.agents) {
        auto configured = overridden(profiles, {agent.name}, agent.image);
        if (configured == image || image_name(configured) == image_name(image))
            return agent.name;
    }
    return std::string(default_profile);
}

}  // namespace cage::config
