// OpenSSL's low-level SHA-256 calls, not EVP: cage links libcrypto statically, and these
// bring in the SHA-256 code alone (with its SHA-NI/AVX assembly), where EVP_Digest and even
// the one-shot SHA256() pull in OpenSSL's provider machinery, 4 MB that every start of cage
// would load twice. OpenSSL 3 marks them deprecated but keeps them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "util/sha256.hpp"

namespace cage {

Sha256::Sha256()
{
    SHA256_Init(&context_);
}

void Sha256::update(std::string_view data)
{
    SHA256_Update(&context_, data.data(), data.size());
}

Sha256Digest Sha256::finish()
{
    Sha256Digest digest{};
    SHA256_Final(digest.data(), &context_);
    return digest;
}

Sha256Digest sha256(std::string_view data)
{
    Sha256 hash;
    hash.update(data);
    return hash.finish();
}

std::string to_hex(const Sha256Digest& digest)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * digest.size());
    for (auto byte : digest) {
        out.push_back(digits[byte >> 4]);
        out.push_back(digits[byte & 15]);
    }
    return out;
}

}  // namespace cage
