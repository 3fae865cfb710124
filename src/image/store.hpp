// The content-addressed image store of one user:
//   <root>/blobs/sha256/<hex>   manifests, configs and compressed layers, by digest
//   <root>/layers/<hex>/        each layer unpacked once (named by its diff_id), shared
//   <root>/images.json          references -> manifest, config, layers
//   <root>/lock                 flock held by every mutation
// Everything appears under its final name by rename(2) only after it is complete and
// verified, so a reader (and a run) never sees half a blob or half a layer, and a killed
// import or pull leaves only ".tmp-*" names, removed by the next mutation.
#pragma once

#include <cage/error.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "image/digest.hpp"
#include "image/unpack.hpp"
#include "runtime/fd.hpp"

namespace cage::image {

struct ImageRecord {
    std::string manifest;              // manifest digest; empty for docker-archive imports
    std::string config;                // config digest: the image id
    std::vector<std::string> layers;   // diff_ids, bottom first
    std::vector<std::string> blobs;    // every other blob the image needs (manifest, layers)
    std::uint64_t size = 0;            // unpacked bytes
    std::string created;               // when it was stored, UTC ISO 8601
    bool operator==(const ImageRecord&) const = default;
};

using ImageTable = std::map<std::string, ImageRecord>;  // canonical reference -> image

// images.json <-> table; unknown or malformed entries are an error, not silently dropped.
std::string encode_table(const ImageTable& table);
Expected<ImageTable> decode_table(std::string_view json);

// Writes one blob through a temporary file beside its final name, hashing as it goes.
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept = default;
    ~BlobWriter();
    Expected<void> write(const void* data, std::size_t size);
    // fsync, compare with `expected` (when given), rename into place; returns the digest.
    Expected<std::string> commit(std::string_view expected = {});
    std::uint64_t size() const { return size_; }

private:
    friend class Store;
    BlobWriter() = default;
    std::string dir_, temporary_;
    UniqueFd fd_;
    std::unique_ptr<Sha256> hash_;
    std::uint64_t size_ = 0;
    std::uint64_t limit_ = 0;
};

struct PruneReport {
    std::vector<std::string> layers;  // diff_ids removed
    std::vector<std::string> blobs;   // digests removed
    std::uint64_t bytes = 0;
};

class Store {
public:
    // The store under `root` (created when missing). Nothing is locked yet.
    static Expected<Store> open(std::string root);
    // $CAGE_IMAGE_STORE if set (absolute), else cage's data directory:
    // $XDG_DATA_HOME/cage, ~/.local/share/cage, or /var/lib/cage for root.
    static Expected<Store> open_default();

    const std::string& root() const { return root_; }
    std::string blob_path(std::string_view digest) const;
    std::string layer_path(std::string_view diff_id) const;
    bool has_blob(std::string_view digest) const;
    bool has_layer(std::string_view diff_id) const;

    // Take the store lock (blocking) and remove what killed mutations left behind. Every
    // method below that changes the store needs it; it is released when the Store goes.
    Expected<void> lock();

    Expected<BlobWriter> new_blob(std::uint64_t limit) const;
    // Copy a blob from an open file, verifying it (`expected` empty: any content).
    Expected<std::string> put_blob(int fd, std::string_view expected, std::uint64_t limit);
    Expected<std::string> put_blob(std::string_view content, std::string_view expected);
    Expected<std::string> read_blob(std::string_view digest, std::size_t limit) const;
    // Unpack the stored blob into layers/<diff_id> unless it is there; the stream must hash
    // to diff_id. Returns the unpacked size.
    Expected<std::uint64_t> add_layer(std::string_view blob, std::string_view diff_id, const UnpackOptions& options);

    Expected<ImageTable> images() const;
    Expected<void> tag(const std::string& reference, ImageRecord record);
    Expected<void> untag(const std::string& reference);
    // Layers and blobs no image refers to.
    Expected<PruneReport> prune();

    // A reference as the user typed it: the canonical form, the localhost/ form, or a
    // unique prefix of an image id.
    Expected<std::pair<std::string, ImageRecord>> find(std::string_view text) const;

private:
    explicit Store(std::string root) : root_(std::move(root)) {}
    Expected<void> save(const ImageTable& table);
    std::string root_;
    UniqueFd lock_fd_;
};

}  // namespace cage::image
