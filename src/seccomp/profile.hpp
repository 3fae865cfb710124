// seccomp profiles: cage's YAML format (cage-profile(5)) and Docker/OCI JSON profiles, read
// into a seccomp::Policy; the built-in profiles; and the compiled-filter cache.
#pragma once

#include <cage/error.hpp>
#include <cage/seccomp.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cage::profile {

struct ProfileText {
    std::string origin;  // "builtin:default" or the file's path, for messages
    std::string text;
};

// "default", "strict" (built in), or a path to a YAML or JSON file. "unconfined" is not a
// profile: the caller handles it.
Expected<ProfileText> find_seccomp_profile(const std::string& name);

// Parses either format (JSON when the text starts with '{'). Errors name the file, the line
// and the offending name.
Expected<seccomp::Policy> parse_seccomp_profile(const ProfileText& profile);

// The compiled filter for a profile, from the cache under cache_dir (keyed by a SHA-256 of
// the profile's text, cage's and libseccomp's versions and the architecture) or compiled and
// stored there. An empty cache_dir disables the cache.
Expected<seccomp::Filter> compiled_filter(const ProfileText& profile, const std::string& cache_dir);

// The built-in profiles (profiles/seccomp/*.yaml, embedded at build time): name and text.
const std::vector<std::pair<std::string, std::string>>& builtin_seccomp_profiles();
// The text of the built-in profile NAME.
std::optional<std::string> builtin_seccomp_profile(const std::string& name);

}  // namespace cage::profile
