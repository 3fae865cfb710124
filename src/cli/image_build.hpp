// Agent images from rootfs-builder recipes: the builder (rootfs-builder/cage-build, a Python
// program) makes an OCI image layout, and cage-image imports it into the image store. Used by
// `cage build` and by `cage run COMMAND` when the command's image is not built yet.
#pragma once

#include <cage/error.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cage::cli {

struct BuildRequest {
    std::string recipe;               // a recipe name, or a path to a .yaml file
    std::optional<std::string> tag;   // the built image's reference (default: localhost/NAME:latest)
    bool no_cache = false;
};

// $CAGE_BUILDER; beside an installed cage; the data directory; the source tree.
Expected<std::string> find_builder();

// True when the builder has a recipe of this name (rootfs-builder/recipes/NAME.yaml).
bool has_recipe(const std::string& builder, const std::string& name);

// Builds into the OCI image layout OUTPUT (created, or added to); returns the image's reference.
Expected<std::string> build_to_layout(const std::string& builder, const BuildRequest& request,
                                      const std::string& output);

// Builds and stores every image of the recipe's chain (base, node, ..., the recipe's own) in
// the image store; returns the references stored, the recipe's own last.
Expected<std::vector<std::string>> build_into_store(const std::string& builder, const BuildRequest& request);

}  // namespace cage::cli
