#include "image/digest.hpp"

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
