#include "image/manifest.hpp"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "image/digest.hpp"

namespace cage::image {
namespace {

using Json = nlohmann::json;

Error bad(const char* document, std::string why)
{
    return plain_error(std::string("invalid ") + document + ": " + std::move(why));
}

Expected<Json> parse_object(std::string_view text, const char* document, std::size_t limit)
{
    if (text.size() > limit)
        return std::unexpected(bad(document, "larger than " + std::to_string(limit) + " bytes"));
    Json json = Json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded() || !json.is_object())
        return std::unexpected(bad(document, "not a JSON object"));
    return json;
}

std::string string_field(const Json& object, const char* key)
{
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A missing or null field is an empty list; any element that is not a string is an error.
Expected<std::vector<std::string>> string_list(const Json& object, const char* key, const char* document)
{
    std::vector<std::string> result;
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return result;
    if (!it->is_array())
        return std::unexpected(bad(document, std::string(key) + " is not a list"));
    for (const auto& item : *it) {
        if (!item.is_string())
            return std::unexpected(bad(document, std::string(key) + " holds a non-string"));
        result.push_back(item.get<std::string>());
    }
    return result;
}

Expected<Descriptor> parse_descriptor(const Json& json, const char* document)
{
    if (!json.is_object())
        return std::unexpected(bad(document, "a descriptor is not an object"));
    Descriptor descriptor;
    descriptor.media_type = string_field(json, "mediaType");
    descriptor.digest = string_field(json, "digest");
    if (!valid_digest(descriptor.digest))
        return std::unexpected(bad(document, "descriptor digest is not sha256:<64 hex>: '" +
                                                 descriptor.digest.substr(0, 80) + "'"));
    auto size = json.find("size");
    if (size == json.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0)
        return std::unexpected(bad(document, "descriptor size missing or negative"));
    descriptor.size = size->get<std::int64_t>();
    if (auto platform = json.find("platform"); platform != json.end() && platform->is_object()) {
        descriptor.os = string_field(*platform, "os");
        descriptor.architecture = string_field(*platform, "architecture");
        descriptor.variant = string_field(*platform, "variant");
    }
    if (auto notes = json.find("annotations"); notes != json.end() && notes->is_object())
        descriptor.ref_name = string_field(*notes, "org.opencontainers.image.ref.name");
    return descriptor;
}

}  // namespace

Expected<DocumentKind> document_kind(std::string_view text)
{
    auto json = CAGE_TRY(parse_object(text, "manifest", max_manifest_bytes));
    auto type = string_field(json, "mediaType");
    if (type == media::oci_index || type == media::docker_list)
        return DocumentKind::index;
    if (type == media::oci_manifest || type == media::docker_manifest)
        return DocumentKind::manifest;
    if (type.empty() && json.contains("manifests"))
        return DocumentKind::index;
    if (type.empty() && json.contains("layers") && json.contains("config"))
        return DocumentKind::manifest;
    if (json.contains("fsLayers"))
        return std::unexpected(bad("manifest", "Docker schema 1 manifests are not supported"));
    return std::unexpected(bad("manifest", "unknown media type '" + type.substr(0, 100) + "'"));
}

Expected<std::vector<Descriptor>> parse_index(std::string_view text)
{
    auto json = CAGE_TRY(parse_object(text, "image index", max_manifest_bytes));
    auto manifests = json.find("manifests");
    if (manifests == json.end() || !manifests->is_array())
        return std::unexpected(bad("image index", "no manifests list"));
    if (manifests->size() > max_layers)
        return std::unexpected(bad("image index", "too many manifests"));
    std::vector<Descriptor> result;
    for (const auto& entry : *manifests)
        result.push_back(CAGE_TRY(parse_descriptor(entry, "image index")));
    return result;
}

Expected<Manifest> parse_manifest(std::string_view text)
{
    auto json = CAGE_TRY(parse_object(text, "image manifest", max_manifest_bytes));
    auto config = json.find("config");
    auto layers = json.find("layers");
    if (config == json.end() || layers == json.end() || !layers->is_array())
        return std::unexpected(bad("image manifest", "config or layers missing"));
    if (layers->size() > max_layers)
        return std::unexpected(bad("image manifest", "more than " + std::to_string(max_layers) + " layers"));
    Manifest manifest;
    manifest.config = CAGE_TRY(parse_descriptor(*config, "image manifest"));
    for (const auto& layer : *layers) {
        auto descriptor = CAGE_TRY(parse_descriptor(layer, "image manifest"));
        if (!is_layer_media_type(descriptor.media_type))
            return std::unexpected(bad("image manifest", "unsupported layer type '" +
                                                             descriptor.media_type.substr(0, 100) + "'"));
        manifest.layers.push_back(std::move(descriptor));
    }
    return manifest;
}

Expected<ImageConfig> parse_config(std::string_view text)
{
    auto json = CAGE_TRY(parse_object(text, "image config", max_config_bytes));
    ImageConfig config;
    config.os = string_field(json, "os");
    config.architecture = string_field(json, "architecture");
    if (auto inner = json.find("config"); inner != json.end() && inner->is_object()) {
        config.env = CAGE_TRY(string_list(*inner, "Env", "image config"));
        config.entrypoint = CAGE_TRY(string_list(*inner, "Entrypoint", "image config"));
        config.cmd = CAGE_TRY(string_list(*inner, "Cmd", "image config"));
        config.working_dir = string_field(*inner, "WorkingDir");
        config.user = string_field(*inner, "User");
    }
    auto rootfs = json.find("rootfs");
    if (rootfs == json.end() || !rootfs->is_object())
        return std::unexpected(bad("image config", "no rootfs"));
    config.diff_ids = CAGE_TRY(string_list(*rootfs, "diff_ids", "image config"));
    if (config.diff_ids.size() > max_layers)
        return std::unexpected(bad("image config", "too many layers"));
    for (const auto& id : config.diff_ids)
        if (!valid_digest(id))
            return std::unexpected(bad("image config", "diff_id is not sha256:<64 hex>"));
    if (!config.working_dir.empty() && config.working_dir.front() != '/')
        return std::unexpected(bad("image config", "WorkingDir is not absolute"));
    return config;
}

Expected<std::vector<ArchiveImage>> parse_archive_manifest(std::string_view text)
{
    if (text.size() > max_manifest_bytes)
        return std::unexpected(bad("manifest.json", "too large"));
    Json json = Json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded() || !json.is_array() || json.empty())
        return std::unexpected(bad("manifest.json", "not a non-empty JSON list"));
    std::vector<ArchiveImage> images;
    for (const auto& entry : json) {
        if (!entry.is_object())
            return std::unexpected(bad("manifest.json", "an entry is not an object"));
        ArchiveImage image;
        image.config = string_field(entry, "Config");
        image.tags = CAGE_TRY(string_list(entry, "RepoTags", "manifest.json"));
        image.layers = CAGE_TRY(string_list(entry, "Layers", "manifest.json"));
        if (image.config.empty() || image.layers.size() > max_layers)
            return std::unexpected(bad("manifest.json", "no Config, or too many layers"));
        images.push_back(std::move(image));
    }
    return images;
}

std::string host_architecture()
{
    struct utsname name{};
    ::uname(&name);
    std::string_view machine = name.machine;
    if (machine == "x86_64")
        return "amd64";
    if (machine == "aarch64")
        return "arm64";
    if (machine.starts_with("arm"))
        return "arm";
    if (machine == "i686" || machine == "i386")
        return "386";
    return std::string(machine);
}

std::optional<Descriptor> pick_platform(const std::vector<Descriptor>& entries, std::string_view architecture)
{
    for (const auto& entry : entries)
        if (entry.os == "linux" && entry.architecture == architecture)
            return entry;
    return std::nullopt;
}

bool is_layer_media_type(std::string_view type)
{
    constexpr std::string_view known[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    for (auto candidate : known)
        if (type == candidate)
            return true;
    return false;
}

}  // namespace cage::image
