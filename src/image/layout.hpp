// Import of images from files: OCI image layouts (a directory, or a tar of one, as
// `skopeo copy ... oci:DIR` writes) and docker-archive tarballs (`docker save`).
#pragma once

#include <cage/error.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "image/manifest.hpp"
#include "image/store.hpp"

namespace cage::image {

struct ImportOptions {
    std::optional<std::string> name;  // the reference to store it under (one image only)
    std::function<void(const std::string&)> progress;  // one line per step; may be empty
};

// Import every image in the layout or archive at `path` into the (locked) store; returns
// the references stored.
Expected<std::vector<std::string>> import_images(Store& store, const std::string& path, const ImportOptions& options);

// Store the image a manifest describes. `ensure_blob` makes a blob present in the store
// (copied or downloaded, verified); the config and layers are checked against the
// manifest, layers unpacked. Shared by import and pull.
Expected<ImageRecord> store_manifest(Store& store, const std::string& manifest_text, std::string_view manifest_digest,
                                     const std::function<Expected<void>(const Descriptor&)>& ensure_blob,
                                     const std::function<void(const std::string&)>& progress);

}  // namespace cage::image
