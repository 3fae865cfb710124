// The JSON documents of an image, parsed defensively: OCI index / Docker manifest list,
// OCI and Docker schema-2 manifests, the image config, and docker-archive's manifest.json.
#pragma once

#include <cage/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cage::image {

inline constexpr std::size_t max_manifest_bytes = 4u << 20;
inline constexpr std::size_t max_config_bytes = 16u << 20;
inline constexpr std::size_t max_layers = 4096;

namespace media {
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view docker_list = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
}  // namespace media

struct Descriptor {
    std::string media_type;
    std::string digest;  // always valid_digest()
    std::int64_t size = 0;
    std::string os;            // platform, for index entries
    std::string architecture;
    std::string variant;
    std::string ref_name;  // org.opencontainers.image.ref.name annotation (OCI layouts)
};

struct Manifest {
    Descriptor config;
    std::vector<Descriptor> layers;  // bottom first, as in the document
};

struct ImageConfig {
    std::vector<std::string> env;
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::string working_dir;
    std::string user;
    std::string os;
    std::string architecture;
    std::vector<std::string> diff_ids;  // bottom first
};

// docker save's manifest.json: one entry per image in the archive.
struct ArchiveImage {
    std::string config;               // path inside the archive
    std::vector<std::string> tags;    // RepoTags
    std::vector<std::string> layers;  // paths inside the archive, bottom first
};

enum class DocumentKind { index, manifest };

// Which kind of document this is, from its mediaType (or, without one, its shape).
Expected<DocumentKind> document_kind(std::string_view json);
Expected<std::vector<Descriptor>> parse_index(std::string_view json);
Expected<Manifest> parse_manifest(std::string_view json);
Expected<ImageConfig> parse_config(std::string_view json);
Expected<std::vector<ArchiveImage>> parse_archive_manifest(std::string_view json);

// The GOARCH name of this machine: amd64, arm64, ...
std::string host_architecture();
// The linux entry for `architecture` in an index, if any.
std::optional<Descriptor> pick_platform(const std::vector<Descriptor>& entries, std::string_view architecture);

// True for the layer media types cage can unpack (tar, gzip, zstd; OCI and Docker).
bool is_layer_media_type(std::string_view media_type);

}  // namespace cage::image
