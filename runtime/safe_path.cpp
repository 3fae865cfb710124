#include "runtime/safe_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "runtime/sys.hpp"

namespace cage::safe_path {
namespace {

bool openat2_disabled = false;
constexpr int max_symlinks = 40;  // as the kernel's own limit (MAXSYMLINKS)

// Component-wise resolution with RESOLVE_IN_ROOT semantics: ".." never climbs above the root
// and an absolute symlink target restarts from the root.
int walk_in_root(int root_fd, std::string_view path, int flags)
{
    std::vector<UniqueFd> stack;  // directories below the root, deepest last
    auto current = [&] { return stack.empty() ? root_fd : stack.back().get(); };
    std::vector<std::string> pending = components(path);
    std::reverse(pending.begin(), pending.end());  // pop from the back
    int symlinks = 0;

    while (!pending.empty()) {
        std::string name = std::move(pending.back());
        pending.pop_back();
        if (name == "..") {
            if (!stack.empty())
                stack.pop_back();
            continue;
        }
        bool last = pending.empty();
        UniqueFd next(::openat(current(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!next)
            return -1;
        struct stat st{};
        if (::fstat(next.get(), &st) < 0)
            return -1;
        if (S_ISLNK(st.st_mode) && (!last || !(flags & O_NOFOLLOW))) {
            if (++symlinks > max_symlinks) {
                errno = ELOOP;
                return -1;
            }
            char target[4096];
            ssize_t length = ::readlinkat(next.get(), "", target, sizeof(target) - 1);
            if (length < 0)
                return -1;
            auto parts = components(std::string_view(target, static_cast<std::size_t>(length)));
            if (target[0] == '/')
                stack.clear();
            for (auto it = parts.rbegin(); it != parts.rend(); ++it)
                pending.push_back(std::move(*it));
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        stack.push_back(std::move(next));
    }
    UniqueFd final_fd(stack.empty() ? ::openat(root_fd, ".", O_PATH | O_CLOEXEC) : stack.back().release());
    if (!final_fd)
        return -1;
    if (flags & O_DIRECTORY) {
        struct stat st{};
        if (::fstat(final_fd.get(), &st) < 0)
            return -1;
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
    }
    if (flags & O_PATH)
        return final_fd.release();
    // Reopen the resolved object with the caller's access mode through its descriptor.
    auto self = "/proc/self/fd/" + std::to_string(final_fd.get());
    return ::open(self.c_str(), (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
}

}  // namespace

std::vector<std::string> components(std::string_view path)
{
    std::vector<std::string> parts;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto part = path.substr(0, slash);
        if (!part.empty() && part != ".")
            parts.emplace_back(part);
        if (slash == std::string_view::npos)
            break;
        path.remove_prefix(slash + 1);
    }
    return parts;
}

Expected<UniqueFd> open_in_root(int root_fd, std::string_view path, int flags)
{
    std::string relative(path);
    int fd = -1;
    if (!openat2_disabled) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        fd = sys::openat2(root_fd, relative.empty() ? "." : relative.c_str(), &how);
        if (fd < 0 && errno == ENOSYS)
            openat2_disabled = true;
    }
    if (openat2_disabled) {
        // As the kernel: a trailing "/" or "/." names a directory, following a final symlink.
        bool trailing = relative.ends_with('/') || relative.ends_with("/.") || relative == ".";
        fd = walk_in_root(root_fd, relative, trailing ? (flags | O_DIRECTORY) & ~O_NOFOLLOW : flags);
    }
    if (fd < 0)
        return std::unexpected(errno_error("open inside the container root",
                                           relative.starts_with('/') ? relative : "/" + relative));
    return UniqueFd(fd);
}

namespace {

// A component that exists as a symlink to something missing: follow it (inside the root) and
// create its target instead, as mkdir -p would through a symlink.
Expected<UniqueFd> make_directories_at_depth(int root_fd, std::string_view path, mode_t mode, int depth)
{
    if (depth > max_symlinks) {
        errno = ELOOP;
        return std::unexpected(errno_error("create a directory inside the container root", std::string(path)));
    }
    auto parts = components(path);
    UniqueFd parent(::openat(root_fd, ".", O_PATH | O_CLOEXEC | O_DIRECTORY));
    if (!parent)
        return std::unexpected(errno_error("open the container root"));
    std::string prefix;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& part = parts[i];
        std::string parent_prefix = prefix;
        prefix += "/" + part;
        auto existing = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
        if (!existing && existing.error().errnum == ENOENT) {
            // parent was resolved inside the root, so a single-component mkdirat stays inside.
            if (::mkdirat(parent.get(), part.c_str(), mode) < 0 && errno != EEXIST)
                return std::unexpected(errno_error("create a directory inside the container root", prefix));
            existing = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
        }
        if (!existing && existing.error().errnum == ENOENT) {
            char target[4096];
            ssize_t length = ::readlinkat(parent.get(), part.c_str(), target, sizeof(target) - 1);
            if (length > 0) {
                std::string rest(target, static_cast<std::size_t>(length));
                if (rest.front() != '/')
                    rest = parent_prefix + "/" + rest;
                for (std::size_t j = i + 1; j < parts.size(); ++j)
                    rest += "/" + parts[j];
                return make_directories_at_depth(root_fd, rest, mode, depth + 1);
            }
        }
        if (!existing)
            return std::unexpected(existing.error());
        parent = std::move(*existing);
    }
    return parent;
}

}  // namespace

Expected<UniqueFd> make_directories(int root_fd, std::string_view path, mode_t mode)
{
    return make_directories_at_depth(root_fd, path, mode, 0);
}

namespace {

Expected<UniqueFd> make_file_at_depth(int root_fd, std::string_view path, mode_t mode, int depth)
{
    auto parts = components(path);
    if (parts.empty())
        return std::unexpected(plain_error("a file mount target cannot be the root"));
    if (depth > max_symlinks) {
        errno = ELOOP;
        return std::unexpected(errno_error("create a file inside the container root", std::string(path)));
    }
    auto name = parts.back();
    std::string parent_path;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i)
        parent_path += "/" + parts[i];
    auto parent = CAGE_TRY(make_directories(root_fd, parent_path, 0755));
    auto existing = open_in_root(root_fd, std::string(path), O_PATH);
    if (existing || existing.error().errnum != ENOENT)
        return existing;
    UniqueFd created(::openat(parent.get(), name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!created && errno != EEXIST)
        return std::unexpected(errno_error("create a file inside the container root", std::string(path)));
    if (!created) {
        // A dangling symlink (Debian's /etc/resolv.conf, say): create what it points to, inside.
        char target[4096];
        ssize_t length = ::readlinkat(parent.get(), name.c_str(), target, sizeof(target) - 1);
        if (length > 0) {
            std::string next(target, static_cast<std::size_t>(length));
            if (next.front() != '/')
                next = parent_path + "/" + next;
            return make_file_at_depth(root_fd, next, mode, depth + 1);
        }
    }
    return open_in_root(root_fd, std::string(path), O_PATH);
}

}  // namespace

Expected<UniqueFd> make_file(int root_fd, std::string_view path, mode_t mode)
{
    return make_file_at_depth(root_fd, path, mode, 0);
}

void disable_openat2_for_testing(bool disabled)
{
    openat2_disabled = disabled;
}

}  // namespace cage::safe_path
