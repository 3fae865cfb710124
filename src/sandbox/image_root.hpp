// What a stored image contributes to a run: its layer directories (the overlay's lower
// dirs) and its config (Env, Entrypoint, Cmd, WorkingDir, User).
#pragma once

#include <cage/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "image/manifest.hpp"

namespace cage::sandbox {

struct ImageRoot {
    std::string reference;                // canonical
    std::vector<std::string> lower_dirs;  // layer directories, top first
    image::ImageConfig config;
};

// Find the image in the user's store; every layer must be present.
Expected<ImageRoot> open_image(std::string_view reference);

// The top-most layer that has `path` (any file type: a whiteout hides the lower ones), or "".
std::string layer_with(const std::vector<std::string>& lower_dirs, std::string_view path);

// An image's User ("name", "uid", "name:group", "uid:gid") as ids, names looked up in the
// /etc/passwd and /etc/group texts given (either may be empty).
Expected<std::pair<std::uint32_t, std::uint32_t>> parse_image_user(std::string_view user, std::string_view passwd,
                                                                   std::string_view group);

// The same, reading the image's /etc/passwd and /etc/group from its layers.
Expected<std::pair<std::uint32_t, std::uint32_t>> image_user(const std::vector<std::string>& lower_dirs,
                                                             std::string_view user);

// The command of a run from an image: Entrypoint (or its replacement), then COMMAND if given,
// else Cmd.
std::vector<std::string> image_command(const image::ImageConfig& config, const std::vector<std::string>& command,
                                       const std::optional<std::vector<std::string>>& entrypoint = std::nullopt);

// The image's Env entries (KEY=VALUE only), for build_environment's requested list.
std::vector<std::string> image_environment(const image::ImageConfig& config);

}  // namespace cage::sandbox
