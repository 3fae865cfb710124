// The OCI distribution client: `cage pull` and the credential check of `cage login`.
//
// Anonymous bearer tokens come from the realm a 401's WWW-Authenticate names; stored
// credentials (auth.hpp) are sent to that realm, or as Basic auth when the registry asks
// for it. Manifests (OCI or Docker schema 2, through an index or manifest list for this
// architecture), configs and layers are verified against their digests before use; layers
// download in parallel into the store's temporary names. Plain HTTP is used only for
// localhost / 127.0.0.1 or with `insecure`.
#pragma once

#include <cage/error.hpp>

#include <functional>
#include <optional>
#include <string>

#include "image/auth.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"

namespace cage::image {

struct PullOptions {
    bool insecure = false;  // plain HTTP and unverified TLS for any registry
    std::string architecture;  // default: this machine's
    unsigned parallel = 4;     // layer downloads at once
    std::function<void(const std::string&)> progress;
};

// Pull into the (locked) store and tag it; returns the canonical reference.
Expected<std::string> pull(Store& store, const Reference& reference, const PullOptions& options);

// Check credentials against a registry (GET /v2/ with them, through its token service).
Expected<void> check_login(const std::string& registry, const Credentials& credentials, bool insecure);

}  // namespace cage::image
