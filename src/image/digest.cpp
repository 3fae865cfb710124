#include "image/digest.hpp"
#include "image/fsutil.hpp"

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

std::string sha256_of(std::string_view data)
{
    Sha256 hash;
    hash.update(data.data(), data.size());
    return hash.finish();
}

Expected<std::string> sha256_of_fd(int fd)
{
    Sha256 hash;
    CAGE_TRY(for_each_chunk(fd, [&](const char* data, std::size_t size) -> Expected<void> {
        hash.update(data, size);
        return {};
    }));
    return hash.finish();
}

}  // namespace cage::image
