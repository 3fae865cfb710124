// Image references: "alpine", "ghcr.io/owner/app:1.2", "localhost:5000/x@sha256:...".
#pragma once

#include <cage/error.hpp>

#include <string>
#include <string_view>

namespace cage::image {

struct Reference {
    std::string registry;    // "docker.io", "ghcr.io", "127.0.0.1:5000"
    std::string repository;  // "library/alpine"
    std::string tag;         // "latest" unless a digest alone was given
    std::string digest;      // "sha256:..." or empty

    // The canonical name: registry/repository[:tag][@digest].
    std::string str() const;
    // registry/repository, without tag or digest.
    std::string name() const;
    // The host to talk to: docker.io is served by registry-1.docker.io.
    std::string endpoint() const;
    bool operator==(const Reference&) const = default;
};

// Parse and normalise a reference the way docker does: a first component with a '.' or a
// ':' or "localhost" is a registry, otherwise docker.io (plus "library/" for one-component
// names); no tag and no digest means ":latest". Refuses anything that is not a valid name.
Expected<Reference> parse_reference(std::string_view text);

// A name given to a local image (import): without a registry component it goes under
// "localhost/" instead of docker.io, as podman does ("tool:1" -> "localhost/tool:1").
Expected<Reference> parse_local_reference(std::string_view text);

// True when plain HTTP may be used without --insecure: localhost and 127.0.0.1 (any port).
bool is_local_registry(std::string_view registry);

}  // namespace cage::image
