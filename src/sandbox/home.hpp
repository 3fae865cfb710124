// Persistent agent homes: $XDG_DATA_HOME/cage/homes/PROFILE (root: /var/lib/cage/homes/PROFILE),
// mounted at /home/agent, so what an agent keeps in ~ (logins, settings, history) survives
// from one run to the next. `cage run --ephemeral-home` opts out.
#pragma once

#include <cage/error.hpp>

#include <string>

namespace cage::sandbox {

inline constexpr const char* agent_home = "/home/agent";

// Where PROFILE's home lives on the host (not created).
std::string home_directory(const std::string& profile);

// The home of PROFILE, created (mode 0700) when missing; it must be a directory of ours.
Expected<std::string> ensure_home(const std::string& profile);

}  // namespace cage::sandbox
