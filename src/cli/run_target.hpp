// What `cage run WORD [ARG...]` runs. WORD is an image when it is stored or reads like a
// reference ("alpine:3", "ghcr.io/x/y", "name@sha256:..."); any other word is a command, run
// in the image its agent profile names (config/profiles.hpp): `cage run claude` runs claude
// in the claude image, `cage run ls` runs ls in the base image. An image the profiles name
// that is not stored yet is built from its rootfs-builder recipe first (cli/image_build.hpp).
#pragma once

#include <cage/error.hpp>

#include <optional>
#include <string>

#include "config/profiles.hpp"
#include "sandbox/options.hpp"

namespace cage::cli {

struct Target {
    std::optional<std::string> chosen_by;  // the command whose profile chose the image
    bool stored = false;                   // the image was found in the store already
};

// Settles options.image, options.command, options.entrypoint and options.profile.
Target choose_target(sandbox::RunOptions& options, const config::Profiles& profiles);

// Builds the chosen image when it is missing and a recipe of its name exists (with a notice).
// A missing image without a recipe is an error here when a command's profile chose it (the
// user named no image), else it is left to the image lookup's "no such image".
Expected<void> build_missing_image(const sandbox::RunOptions& options, const Target& target);

// True when TEXT can only be an image reference: it has a registry, tag or digest separator.
bool reads_like_reference(std::string_view text);

}  // namespace cage::cli
