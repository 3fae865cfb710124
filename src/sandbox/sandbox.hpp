// Turns the options of one run into a runtime::Spec: the workspace, volumes, user account,
// environment, names and the place of a kept upper directory.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "sandbox/options.hpp"

namespace cage::sandbox {

// Variables that pass from the host when set (besides --env): exact names and LC_*.
bool passes_through(std::string_view name);

// The command's environment: PATH, HOME, USER defaults, the pass-through variables of the
// host, then the requested ones (KEY=VALUE, or KEY copied from the host when set there).
std::vector<std::string> build_environment(const std::vector<std::string>& host,
                                           const std::vector<std::string>& requested,
                                           const std::string& user, const std::string& home);

// Sandbox names become hostnames and directory names: [A-Za-z0-9][A-Za-z0-9.-]{0,62}.
bool valid_name(std::string_view name);
std::string random_name();

// $XDG_<KIND>_HOME/cage, or ~/UNDER_HOME/cage (~ from $HOME or the passwd entry).
std::string user_directory(const char* xdg_variable, const char* under_home);
// $XDG_DATA_HOME/cage (or ~/.local/share/cage); /var/lib/cage for root.
std::string data_dir();
// $XDG_CACHE_HOME/cage (or ~/.cache/cage); /var/cache/cage for root.
std::string cache_dir();

// Field INDEX (from 0) of a colon-separated /etc/passwd or /etc/group line; empty if absent.
std::string passwd_field(std::string_view line, int index);

struct Account {
    std::string name;
    std::string home;
};
// The container user's name and home from the root filesystem's /etc/passwd (read inside
// the root, symlinks resolved within it); a default when there is no entry.
Account lookup_account(const std::string& rootfs, std::uint32_t uid);

// Why slirp4netns cannot give this user a network on this host, or "" when it can.
std::string slirp4netns_unusable();
// --network, else the agent profile's network where it can be used (else none, with a
// warning on stderr), else none.
runtime::Network chosen_network(const RunOptions& options);

// The compiled filter for --seccomp (empty for "unconfined"), from the cache when it can.
Expected<seccomp::Filter> seccomp_filter(const std::string& profile);

// Every part of the Spec that options decide.
Expected<runtime::Spec> make_spec(const RunOptions& options, const std::vector<std::string>& host_env);

}  // namespace cage::sandbox
