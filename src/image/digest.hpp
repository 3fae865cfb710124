// sha256 digests: the content addresses of blobs and the diff_ids of unpacked layers.
#pragma once

#include <cage/error.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "util/sha256.hpp"

namespace cage::image {

// True for "sha256:" followed by exactly 64 lowercase hex digits (the only algorithm cage
// accepts; anything else is refused rather than trusted).
bool valid_digest(std::string_view digest);
// The 64 hex digits of a valid digest.
std::string_view digest_hex(std::string_view digest);

// Incremental sha256, giving digests in the OCI form.
class Sha256 {
public:
    void update(const void* data, std::size_t size) { hash_.update({static_cast<const char*>(data), size}); }
    // "sha256:<hex>"; the hasher cannot be used afterwards.
    std::string finish() { return "sha256:" + to_hex(hash_.finish()); }

private:
    cage::Sha256 hash_;
};

std::string sha256_of(std::string_view data);
// The digest of a whole file read through the descriptor (from its current offset).
Expected<std::string> sha256_of_fd(int fd);

}  // namespace cage::image
