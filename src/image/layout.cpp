#include "image/layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "image/fsutil.hpp"
#include "image/manifest.hpp"
#include "image/reference.hpp"
#include "runtime/safe_path.hpp"

namespace cage::image {
namespace {

using Json = nlohmann::json;

void say(const std::function<void(const std::string&)>& progress, const std::string& line)
{
    if (progress)
        progress(line);
}

std::string short_id(std::string_view digest)
{
    return std::string(digest_hex(digest).substr(0, 12));
}

// Copy one file of the layout (resolved inside it) into the store as a verified blob.
Expected<std::string> copy_blob(Store& store, int dir_fd, const std::string& path, std::string_view expected,
                                std::uint64_t limit)
{
    if (!expected.empty() && store.has_blob(expected))
        return std::string(expected);
    auto fd = CAGE_TRY(safe_path::open_in_root(dir_fd, path, O_RDONLY | O_NONBLOCK));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return std::unexpected(plain_error("not a regular file in the image", path));
    return store.put_blob(fd.get(), expected, limit);
}

std::string blob_file(std::string_view digest)
{
    return "blobs/sha256/" + std::string(digest_hex(digest));
}

// The name an image gets: the one asked for, else its own (a full reference, or a bare tag
// given to localhost/<directory name>).
Expected<std::string> choose_name(const std::optional<std::string>& asked, const std::string& own,
                                  const std::string& path)
{
    if (asked)
        return CAGE_TRY(parse_local_reference(*asked)).str();
    if (own.find('/') != std::string::npos || own.find(':') != std::string::npos)
        return CAGE_TRY(parse_reference(own)).str();
    auto slash = path.find_last_of('/', path.find_last_not_of('/'));
    std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    if (auto dot = base.find('.'); dot != std::string::npos && dot > 0)
        base.resize(dot);  // "image.tar" -> "image"
    for (auto& c : base)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto reference = parse_local_reference(base + ":" + (own.empty() ? "latest" : own));
    if (!reference)
        return std::unexpected(plain_error("cannot name the imported image after its file", path,
                                           "give a name: cage import PATH NAME[:TAG]"));
    return reference->str();
}

Expected<std::vector<std::string>> import_oci_layout(Store& store, int dir_fd, const std::string& path,
                                                      const ImportOptions& options)
{
    auto index_text = CAGE_TRY(read_bounded(dir_fd, "index.json", max_manifest_bytes));
    auto entries = CAGE_TRY(parse_index(index_text));
    if (entries.empty())
        return std::unexpected(plain_error("the OCI layout holds no image", path));
    if (options.name && entries.size() > 1)
        return std::unexpected(plain_error("the OCI layout holds several images; a NAME applies to one", path));
    auto ensure = [&](const Descriptor& blob) -> Expected<void> {
        CAGE_TRY(copy_blob(store, dir_fd, blob_file(blob.digest), blob.digest, static_cast<std::uint64_t>(blob.size)));
        return {};
    };
    std::vector<std::string> stored;
    for (auto entry : entries) {
        auto text = CAGE_TRY(read_bounded(dir_fd, blob_file(entry.digest), max_manifest_bytes));
        if (sha256_of(text) != entry.digest)
            return std::unexpected(plain_error("refused manifest: its content does not match its digest", entry.digest));
        if (CAGE_TRY(document_kind(text)) == DocumentKind::index) {
            auto platform = pick_platform(CAGE_TRY(parse_index(text)), host_architecture());
            if (!platform)
                return std::unexpected(plain_error("no linux/" + host_architecture() + " image in the index", entry.digest));
            platform->ref_name = entry.ref_name;
            entry = *platform;
            text = CAGE_TRY(read_bounded(dir_fd, blob_file(entry.digest), max_manifest_bytes));
        }
        auto record = CAGE_TRY(store_manifest(store, text, entry.digest, ensure, options.progress));
        auto name = CAGE_TRY(choose_name(options.name, entry.ref_name, path));
        CAGE_TRY(store.tag(name, record));
        stored.push_back(name);
    }
    return stored;
}

// docker save: layers are tar files named in manifest.json. They are stored as blobs, and
// an equivalent schema-2 manifest is written so that the image is stored like a pulled one.
Expected<std::vector<std::string>> import_docker_archive(Store& store, int dir_fd, const std::string& path,
                                                          const ImportOptions& options)
{
    auto text = CAGE_TRY(read_bounded(dir_fd, "manifest.json", max_manifest_bytes));
    auto images = CAGE_TRY(parse_archive_manifest(text));
    if (options.name && images.size() > 1)
        return std::unexpected(plain_error("the archive holds several images; a NAME applies to one", path));
    constexpr std::uint64_t no_limit = ~0ULL;
    std::vector<std::string> stored;
    for (const auto& image : images) {
        auto config = CAGE_TRY(copy_blob(store, dir_fd, image.config, {}, max_config_bytes));
        Json layers = Json::array();
        for (const auto& layer : image.layers) {
            say(options.progress, "copying " + layer);
            auto digest = CAGE_TRY(copy_blob(store, dir_fd, layer, {}, no_limit));
            struct stat st{};
            ::stat(store.blob_path(digest).c_str(), &st);
            layers.push_back({{"mediaType", "application/vnd.docker.image.rootfs.diff.tar"},
                              {"digest", digest}, {"size", st.st_size}});
        }
        struct stat st{};
        ::stat(store.blob_path(config).c_str(), &st);
        Json manifest{{"schemaVersion", 2}, {"mediaType", media::docker_manifest},
                      {"config", {{"mediaType", "application/vnd.docker.container.image.v1+json"},
                                  {"digest", config}, {"size", st.st_size}}},
                      {"layers", layers}};
        auto manifest_text = manifest.dump();
        auto ensure = [&](const Descriptor& blob) -> Expected<void> {
            if (!store.has_blob(blob.digest))
                return std::unexpected(plain_error("blob missing from the archive", blob.digest));
            return {};
        };
        auto record = CAGE_TRY(store_manifest(store, manifest_text, sha256_of(manifest_text), ensure, options.progress));
        std::vector<std::string> names;
        if (options.name || image.tags.empty())
            names.push_back(CAGE_TRY(choose_name(options.name, "", path)));
        for (const auto& tag : options.name ? std::vector<std::string>{} : image.tags)
            names.push_back(CAGE_TRY(parse_reference(tag)).str());
        for (const auto& name : names) {
            CAGE_TRY(store.tag(name, record));
            stored.push_back(name);
        }
    }
    return stored;
}

Expected<std::vector<std::string>> import_directory(Store& store, const std::string& dir, const std::string& path,
                                                     const ImportOptions& options)
{
    UniqueFd dir_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd)
        return std::unexpected(errno_error("open the image", path));
    struct stat st{};
    if (::fstatat(dir_fd.get(), "index.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return import_oci_layout(store, dir_fd.get(), path, options);
    if (::fstatat(dir_fd.get(), "manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return import_docker_archive(store, dir_fd.get(), path, options);
    return std::unexpected(plain_error("not an OCI layout (no index.json) nor a docker archive (no manifest.json)", path));
}

// A tar of a layout or a docker archive is unpacked (safely, as a layer would be) into a
// temporary directory of the store first.
Expected<std::vector<std::string>> import_tarball(Store& store, const std::string& path, const ImportOptions& options)
{
    UniqueFd archive(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!archive)
        return std::unexpected(errno_error("open the image", path));
    auto temporary = temporary_name(".tmp-import-");
    UniqueFd root(::open(store.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root || ::mkdirat(root.get(), temporary.c_str(), 0700) < 0)
        return std::unexpected(errno_error("create a temporary directory", store.root()));
    auto cleanup = [&] { (void)remove_tree_at(root.get(), temporary); };
    UniqueFd dest(::openat(root.get(), temporary.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    auto options_unpack = default_unpack_options();
    options_unpack.whiteouts = false;
    options_unpack.keep_ownership = options_unpack.make_devices = false;
    say(options.progress, "reading " + path);
    auto unpacked = dest ? unpack_layer(archive.get(), dest.get(), options_unpack)
                         : Expected<UnpackResult>(std::unexpected(errno_error("open", temporary)));
    if (!unpacked) {
        cleanup();
        auto error = unpacked.error();
        error.what = "cannot read the image archive: " + error.what;
        if (error.path.empty())
            error.path = path;
        return std::unexpected(error);
    }
    auto result = import_directory(store, store.root() + "/" + temporary, path, options);
    cleanup();
    return result;
}

}  // namespace

Expected<ImageRecord> store_manifest(Store& store, const std::string& manifest_text, std::string_view manifest_digest,
                                     const std::function<Expected<void>(const Descriptor&)>& ensure_blob,
                                     const std::function<void(const std::string&)>& progress)
{
    auto manifest = CAGE_TRY(parse_manifest(manifest_text));
    CAGE_TRY(store.put_blob(manifest_text, manifest_digest));
    CAGE_TRY(ensure_blob(manifest.config));
    auto config_text = CAGE_TRY(store.read_blob(manifest.config.digest, max_config_bytes));
    auto config = CAGE_TRY(parse_config(config_text));
    if (config.diff_ids.size() != manifest.layers.size())
        return std::unexpected(plain_error("refused image: the config lists " + std::to_string(config.diff_ids.size()) +
                                               " layers, the manifest " + std::to_string(manifest.layers.size()),
                                           std::string(manifest_digest)));
    ImageRecord record;
    record.manifest = std::string(manifest_digest);
    record.config = manifest.config.digest;
    auto unpack = default_unpack_options();
    // The missing layers, each once (an image may repeat one), are unpacked several at a
    // time: each goes to a directory of its own, so they are independent.
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < manifest.layers.size(); ++i) {
        const auto& diff_id = config.diff_ids[i];
        bool seen = false;
        for (auto j : missing)
            seen = seen || config.diff_ids[j] == diff_id;
        if (!seen && !store.has_layer(diff_id)) {
            CAGE_TRY(ensure_blob(manifest.layers[i]));
            missing.push_back(i);
        }
    }
    std::map<std::string, std::uint64_t> unpacked;
    std::mutex lock;
    std::optional<Error> failure;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t k; (k = next++) < missing.size();) {
            auto i = missing[k];
            const auto& diff_id = config.diff_ids[i];
            {
                std::lock_guard guard(lock);
                if (failure)
                    return;
                say(progress, "unpacking layer " + std::to_string(i + 1) + "/" +
                                  std::to_string(manifest.layers.size()) + " " + short_id(diff_id));
            }
            auto bytes = store.add_layer(manifest.layers[i].digest, diff_id, unpack);
            std::lock_guard guard(lock);
            if (!bytes) {
                if (!failure)
                    failure = bytes.error();
                return;
            }
            unpacked[diff_id] = *bytes;
        }
    };
    auto threads = std::min<std::size_t>({missing.size(), std::max(2u, std::thread::hardware_concurrency()), 4});
    if (threads <= 1) {
        worker();
    } else {
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < threads; ++t)
            pool.emplace_back(worker);
        for (auto& thread : pool)
            thread.join();
    }
    if (failure)
        return std::unexpected(*failure);
    for (std::size_t i = 0; i < manifest.layers.size(); ++i) {
        const auto& layer = manifest.layers[i];
        const auto& diff_id = config.diff_ids[i];
        auto done = unpacked.find(diff_id);
        record.size += done != unpacked.end() ? done->second : CAGE_TRY(store.add_layer(layer.digest, diff_id, unpack));
        record.layers.push_back(diff_id);
        if (store.has_blob(layer.digest))
            record.blobs.push_back(layer.digest);
    }
    return record;
}

Expected<std::vector<std::string>> import_images(Store& store, const std::string& path, const ImportOptions& options)
{
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0)
        return std::unexpected(errno_error("cannot import", path));
    if (S_ISDIR(st.st_mode))
        return import_directory(store, path, path, options);
    if (S_ISREG(st.st_mode))
        return import_tarball(store, path, options);
    return std::unexpected(plain_error("cannot import: not a directory or a file", path));
}

}  // namespace cage::image
