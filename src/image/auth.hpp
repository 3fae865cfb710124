// Registry credentials and authentication challenges.
//
// Credentials are read from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and
// ~/.docker/config.json, in that order (the "auths" object: registry -> base64 user:pass).
// `cage login` writes the first of those that applies, mode 0600.
#pragma once

#include <cage/error.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cage::image {

struct Challenge {
    std::string scheme;                         // "bearer" or "basic", lowercased
    std::map<std::string, std::string> params;  // realm, service, scope, ...
};

// A WWW-Authenticate header: Bearer realm="...",service="...",scope="..."
std::optional<Challenge> parse_challenge(std::string_view header);

struct Credentials {
    std::string username;
    std::string password;
    bool operator==(const Credentials&) const = default;
};

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// The registry an "auths" key names: "https://index.docker.io/v1/" -> "docker.io".
std::string normalize_auth_key(std::string_view key);

// The credentials for `registry` in the text of one auth file (nullopt when absent).
Expected<std::optional<Credentials>> credentials_in(std::string_view json, std::string_view registry);
// The auth file text with `registry` set (or removed, without credentials).
Expected<std::string> with_credentials(std::string_view json, std::string_view registry,
                                       const std::optional<Credentials>& credentials);

// The auth files consulted, in order.
std::vector<std::string> auth_files();
// The credentials for `registry` from the first auth file that has them.
Expected<std::optional<Credentials>> find_credentials(std::string_view registry);
// Store or remove (nullopt) the credentials in the login file; returns its path.
// Removing reports whether anything was there.
Expected<std::string> save_credentials(std::string_view registry, const Credentials& credentials);
Expected<bool> remove_credentials(std::string_view registry);

}  // namespace cage::image
