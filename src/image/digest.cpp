#include "image/digest.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>

namespace cage::image {

bool valid_digest(std::string_view digest)
{
    constexpr std::string_view prefix = "sha256:";
    if (digest.size() != prefix.size() + 64 || !digest.starts_with(prefix))
        return false;
    for (char c : digest.substr(prefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

std::string_view digest_hex(std::string_view digest)
{
    return digest.substr(digest.find(':') + 1);
}

struct Sha256::State {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~State() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256() : state_(std::make_unique<State>())
{
    EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr);
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size)
{
    EVP_DigestUpdate(state_->context, data, size);
}

std::string Sha256::finish()
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(state_->context, raw, &length);
    static constexpr char hex[] = "0123456789abcdef";
    std::string result = "sha256:";
    for (unsigned int i = 0; i < length; ++i) {
        result += hex[raw[i] >> 4];
        result += hex[raw[i] & 15];
    }
    return result;
}

std::string sha256_of(std::string_view data)
{
    Sha256 hash;
    hash.update(data.data(), data.size());
    return hash.finish();
}

Expected<std::string> sha256_of_fd(int fd)
{
    Sha256 hash;
    char buffer[1 << 16];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return std::unexpected(errno_error("read a blob"));
        if (got == 0)
            break;
        hash.update(buffer, static_cast<std::size_t>(got));
    }
    return hash.finish();
}

}  // namespace cage::image
