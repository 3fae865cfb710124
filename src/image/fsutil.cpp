#include "image/fsutil.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "runtime/safe_path.hpp"

namespace cage::image {
namespace {

Expected<void> empty_directory(int dirfd)
{
    int copy = ::dup(dirfd);
    if (copy < 0)
        return std::unexpected(errno_error("remove a directory"));
    DIR* dir = ::fdopendir(copy);
    if (!dir) {
        ::close(copy);
        return std::unexpected(errno_error("remove a directory"));
    }
    std::vector<std::string> names;
    while (auto* entry = ::readdir(dir)) {
        std::string_view name = entry->d_name;
        if (name != "." && name != "..")
            names.emplace_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names)
        CAGE_TRY(remove_tree_at(dirfd, name));
    return {};
}

}  // namespace

Expected<void> remove_tree_at(int dirfd, const std::string& name)
{
    if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT)
        return {};
    if (errno != EISDIR && errno != EPERM)
        return std::unexpected(errno_error("remove", name));
    UniqueFd dir(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) {
        // An unreadable directory of our own: make it usable, then retry.
        if (errno != EACCES || ::fchmodat(dirfd, name.c_str(), 0700, 0) < 0)
            return std::unexpected(errno_error("remove", name));
        dir.reset(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir)
            return std::unexpected(errno_error("remove", name));
    }
    struct stat st{};
    if (::fstat(dir.get(), &st) == 0 && (st.st_mode & 0700) != 0700)
        ::fchmod(dir.get(), 0700);
    CAGE_TRY(empty_directory(dir.get()));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
        return std::unexpected(errno_error("remove", name));
    return {};
}

std::string temporary_name(std::string_view prefix)
{
    unsigned char bytes[8] = {};
    if (::getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes))
        bytes[0] = static_cast<unsigned char>(::getpid());
    static constexpr char hex[] = "0123456789abcdef";
    std::string name(prefix);
    for (unsigned char byte : bytes) {
        name += hex[byte >> 4];
        name += hex[byte & 15];
    }
    return name;
}

Expected<void> sync_directory(const std::string& dir)
{
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) < 0)
        return std::unexpected(errno_error("sync the directory", dir));
    return {};
}

Expected<void> write_file_atomic(const std::string& dir, const std::string& name, std::string_view content)
{
    auto temporary = dir + "/" + temporary_name(".tmp-");
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd)
        return std::unexpected(errno_error("create", temporary));
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t wrote = ::write(fd.get(), content.data() + done, content.size() - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0) {
            auto error = errno_error("write", temporary);
            ::unlink(temporary.c_str());
            return std::unexpected(error);
        }
        done += static_cast<std::size_t>(wrote);
    }
    if (::fsync(fd.get()) < 0 || ::rename(temporary.c_str(), (dir + "/" + name).c_str()) < 0) {
        auto error = errno_error("write", dir + "/" + name);
        ::unlink(temporary.c_str());
        return std::unexpected(error);
    }
    return sync_directory(dir);
}

Expected<std::string> read_bounded(int dirfd, const std::string& path, std::size_t limit)
{
    auto fd = CAGE_TRY(safe_path::open_in_root(dirfd, path, O_RDONLY | O_NONBLOCK));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return std::unexpected(plain_error("not a regular file", path));
    if (static_cast<std::uint64_t>(st.st_size) > limit)
        return std::unexpected(plain_error("file larger than " + std::to_string(limit) + " bytes", path));
    std::string content(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t got = ::read(fd.get(), content.data() + done, content.size() - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return std::unexpected(errno_error("read", path));
        if (got == 0)
            break;
        done += static_cast<std::size_t>(got);
    }
    content.resize(done);
    return content;
}

std::uint64_t tree_bytes(int dirfd, const std::string& name)
{
    struct stat st{};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    std::uint64_t total = static_cast<std::uint64_t>(st.st_blocks) * 512;
    if (!S_ISDIR(st.st_mode))
        return total;
    UniqueFd dir(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir)
        return total;
    int copy = ::dup(dir.get());
    DIR* listing = copy < 0 ? nullptr : ::fdopendir(copy);
    if (!listing)
        return total;
    std::vector<std::string> names;
    while (auto* entry = ::readdir(listing)) {
        std::string_view child = entry->d_name;
        if (child != "." && child != "..")
            names.emplace_back(child);
    }
    ::closedir(listing);
    for (const auto& child : names)
        total += tree_bytes(dir.get(), child);
    return total;
}

Expected<void> for_each_chunk(int fd, const std::function<Expected<void>(const char* data, std::size_t size)>& consume)
{
    char buffer[1 << 16];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return std::unexpected(errno_error("read a blob"));
        if (got == 0)
            return {};
        CAGE_TRY(consume(buffer, static_cast<std::size_t>(got)));
    }
}

}  // namespace cage::image
