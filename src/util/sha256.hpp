// SHA-256, for content keys and digests.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/sha.h>

namespace cage {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental hashing: update() any number of times, then finish() once.
class Sha256 {
public:
    Sha256();
    void update(std::string_view data);
    Sha256Digest finish();

private:
    SHA256_CTX context_{};
};

Sha256Digest sha256(std::string_view data);
std::string to_hex(const Sha256Digest& digest);

}  // namespace cage
