// Warnings said once per user. The first time, a marker file in the state directory
// (state_dir(): $XDG_STATE_HOME/cage, /var/lib/cage/state for root) records that the warning
// was said; later runs find it and stay silent. Where the state directory cannot be written,
// the warning is said every time.
#pragma once

#include <functional>
#include <string>

namespace cage::sandbox {

// The marker of the warning that resource limits are not (all) enforced on this host.
inline constexpr const char* limits_marker = "limits-warning";

// True when the warning `marker` was not said yet (no file `marker` in state_directory); then
// records it as said (the file holds `text`, written atomically).
bool first_time(const std::string& state_directory, const std::string& marker, const std::string& text);

// Spec::warn_limits for cage run: "cage: warning: ..." on stderr, once per user; every time
// when the user gave the limits on the command line and --best-effort-limits (each run then
// says what it did not get).
std::function<void(const std::string&)> limits_warning(bool asked_for_limits);

}  // namespace cage::sandbox
