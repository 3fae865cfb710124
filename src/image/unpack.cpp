#include "image/unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "image/digest.hpp"
#include "image/fsutil.hpp"
#include "runtime/fd.hpp"

namespace cage::image {
namespace {

constexpr const char* opaque_xattr = "user.overlay.opaque";
constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";
constexpr std::size_t max_component = 255;

struct ArchiveDeleter {
    void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

std::string archive_message(archive* a, const char* fallback)
{
    const char* text = archive_error_string(a);
    return text ? text : fallback;
}


Error refused(std::string_view name, const std::string& why)
{
    return plain_error("refused layer entry: " + why, std::string(name.substr(0, 512)));
}

// The decompressed byte stream of the blob, hashed (the diff_id) and bounded as it is read.
struct Source {
    archive* raw = nullptr;
    Sha256 hash;
    std::uint64_t bytes = 0;
    std::uint64_t limit = 0;
    char block[1 << 16];
};

la_ssize_t read_decompressed(archive* tar, void* data, const void** buffer)
{
    auto* source = static_cast<Source*>(data);
    la_ssize_t got = archive_read_data(source->raw, source->block, sizeof(source->block));
    if (got < 0) {
        archive_set_error(tar, EIO, "%s", archive_message(source->raw, "read error").c_str());
        return -1;
    }
    source->hash.update(source->block, static_cast<std::size_t>(got));
    source->bytes += static_cast<std::uint64_t>(got);
    if (source->bytes > source->limit) {
        archive_set_error(tar, EFBIG, "the uncompressed layer is larger than %llu bytes",
                          static_cast<unsigned long long>(source->limit));
        return -1;
    }
    *buffer = source->block;
    return got;
}

Expected<ArchivePtr> open_decompressed(int blob_fd)
{
    ArchivePtr raw(archive_read_new());
    if (!raw)
        return std::unexpected(plain_error("cannot allocate an archive reader"));
    archive_read_support_filter_all(raw.get());
    archive_read_support_format_raw(raw.get());
    archive_entry* entry = nullptr;
    if (archive_read_open_fd(raw.get(), blob_fd, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(raw.get(), &entry) != ARCHIVE_OK)
        return std::unexpected(plain_error(std::string("cannot read the layer: ") +
                                           archive_message(raw.get(), "empty or unknown compression")));
    return raw;
}

class Extractor {
public:
    Extractor(int root, const UnpackOptions& options) : root_(root), options_(options)
    {
        // Entries owned by this process's ids need no chown, unless a set-group-id directory
        // gives new files another group.
        struct stat st{};
        owner_is_us_ = ::fstat(root, &st) == 0 && !(st.st_mode & S_ISGID);
        uid_ = ::geteuid();
        gid_ = ::getegid();
    }

    Expected<void> add(archive* tar, archive_entry* entry);
    Expected<void> finish_directories();
    UnpackResult result;

private:
    struct Directory {
        std::vector<std::string> parts;
        mode_t mode;
        timespec mtime;
    };

    Expected<int> parent_of(const std::vector<std::string>& parts, std::string_view name);
    Expected<UniqueFd> open_step(int dir, const std::string& component, bool create, std::string_view name);
    void forget_directories(int keep);
    Expected<UniqueFd> open_directory(const std::vector<std::string>& parts, std::size_t count, bool create,
                                      std::string_view name);
    Expected<void> clear(int parent, const std::string& leaf, bool keep_directory, std::string_view name);
    Expected<void> whiteout(int parent, const std::string& leaf, std::string_view name);
    Expected<void> hard_link(int parent, const std::string& leaf, archive_entry* entry, std::string_view name);
    Expected<void> regular_file(archive* tar, int parent, const std::string& leaf, archive_entry* entry,
                                std::string_view name);
    Expected<void> directory(int parent, const std::vector<std::string>& parts, archive_entry* entry,
                             std::string_view name);
    Expected<void> special(int parent, const std::string& leaf, archive_entry* entry, std::string_view name);
    Expected<void> set_owner(int parent, const std::string& leaf, archive_entry* entry);
    void set_xattrs(int fd, archive_entry* entry);

    int root_;
    const UnpackOptions& options_;
    bool owner_is_us_ = false;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    // Open directories of the layer by path ("a/b"), so that entries spread over many
    // directories do not each walk from the root. Emptied whenever a directory is removed.
    static constexpr std::size_t max_open_directories = 128;
    std::unordered_map<std::string, UniqueFd> open_directories_;
    UniqueFd uncached_;  // the last parent, when the map was full
    UniqueFd kept_;      // the parent of the entry being made, kept open across forget_directories
    std::vector<Directory> directories_;
};

Expected<UniqueFd> Extractor::open_directory(const std::vector<std::string>& parts, std::size_t count, bool create,
                                             std::string_view name)
{
    UniqueFd current(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!current)
        return std::unexpected(errno_error("open the layer directory"));
    for (std::size_t i = 0; i < count; ++i)
        current = CAGE_TRY(open_step(current.get(), parts[i], create, name));
    return current;
}

// One component down, never through a symlink; a missing directory is created when asked.
Expected<UniqueFd> Extractor::open_step(int dir, const std::string& component, bool create, std::string_view name)
{
    UniqueFd next(::openat(dir, component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next && errno == ENOENT && create) {
        if (::mkdirat(dir, component.c_str(), 0755) < 0 && errno != EEXIST)
            return std::unexpected(errno_error("create a layer directory", std::string(name)));
        next.reset(::openat(dir, component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!next) {
        struct stat st{};
        if ((errno == ENOTDIR || errno == ELOOP) && ::fstatat(dir, component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            return std::unexpected(refused(name, "its path goes through a symlink"));
        if (errno == ENOTDIR)
            return std::unexpected(refused(name, "a parent is not a directory"));
        if (errno == ENOENT)
            return std::unexpected(refused(name, "a parent does not exist in the layer"));
        return std::unexpected(errno_error("open a layer directory", std::string(name)));
    }
    return next;
}

// The directory that holds the entry, created as needed: from the deepest ancestor already
// open, one component at a time.
Expected<int> Extractor::parent_of(const std::vector<std::string>& parts, std::string_view name)
{
    std::size_t count = parts.size() - 1;
    if (count == 0)
        return root_;
    std::string key;
    std::vector<std::size_t> ends;
    ends.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (i)
            key += '/';
        key += parts[i];
        ends.push_back(key.size());
    }
    std::size_t have = count;
    int current = root_;
    for (; have > 0; --have) {
        auto it = open_directories_.find(key.substr(0, ends[have - 1]));
        if (it != open_directories_.end()) {
            current = it->second.get();
            break;
        }
    }
    if (have == count)
        return current;
    if (open_directories_.size() + (count - have) > max_open_directories) {
        // Full: start over from the root (the descriptors are dropped, not the directories).
        open_directories_.clear();
        have = 0;
        current = root_;
    }
    for (std::size_t i = have; i < count; ++i) {
        auto next = CAGE_TRY(open_step(current, parts[i], true, name));
        if (open_directories_.size() < max_open_directories) {
            auto [it, inserted] = open_directories_.emplace(key.substr(0, ends[i]), std::move(next));
            current = it->second.get();
        } else {
            uncached_ = std::move(next);
            current = uncached_.get();
        }
    }
    return current;
}

// A directory was removed: the open descriptors may point into it. `keep`, the parent of
// the entry being made, stays open until that entry is done.
void Extractor::forget_directories(int keep)
{
    for (auto& [path, fd] : open_directories_)
        if (fd.get() == keep)
            kept_ = std::move(fd);
    open_directories_.clear();
}

// Make room for a new entry: tar semantics, a later entry replaces an earlier one.
Expected<void> Extractor::clear(int parent, const std::string& leaf, bool keep_directory, std::string_view name)
{
    struct stat st{};
    if (::fstatat(parent, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return {};
    if (S_ISDIR(st.st_mode)) {
        if (keep_directory)
            return {};
        forget_directories(parent);  // open descriptors may be inside the removed tree
        auto removed = remove_tree_at(parent, leaf);
        if (!removed)
            return std::unexpected(removed.error());
        return {};
    }
    if (::unlinkat(parent, leaf.c_str(), 0) < 0)
        return std::unexpected(errno_error("replace a layer entry", std::string(name)));
    return {};
}

Expected<void> Extractor::set_owner(int parent, const std::string& leaf, archive_entry* entry)
{
    if (options_.keep_ownership &&
        !(owner_is_us_ && static_cast<uid_t>(archive_entry_uid(entry)) == uid_ &&
          static_cast<gid_t>(archive_entry_gid(entry)) == gid_) &&
        ::fchownat(parent, leaf.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                   static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) < 0)
        return std::unexpected(errno_error("set the owner of a layer entry", leaf));
    return {};
}

// Extended attributes are kept where this user may set them. Overlay metadata is never
// taken from an archive: it comes only from whiteout entries.
void Extractor::set_xattrs(int fd, archive_entry* entry)
{
    const char* key = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
        std::string_view name = key;
        if (name.find("overlay.") != std::string_view::npos)
            continue;
        if (!options_.keep_ownership && !name.starts_with("user."))
            continue;
        ::fsetxattr(fd, key, value, size, 0);  // best effort: the file system may lack xattrs
    }
}

Expected<void> Extractor::whiteout(int parent, const std::string& leaf, std::string_view name)
{
    if (leaf == opaque_marker) {
        if (::fsetxattr(parent, opaque_xattr, "y", 1, 0) < 0)
            return std::unexpected(errno_error("mark an opaque directory (user xattrs needed)", std::string(name)));
        return {};
    }
    if (leaf.starts_with(".wh..wh."))  // aufs bookkeeping, meaningless to overlayfs
        return {};
    std::string hidden = leaf.substr(whiteout_prefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..")
        return std::unexpected(refused(name, "invalid whiteout name"));
    CAGE_TRY(clear(parent, hidden, false, name));
    if (::mknodat(parent, hidden.c_str(), S_IFCHR | 0000, ::makedev(0, 0)) < 0)
        return std::unexpected(errno_error("create a whiteout", std::string(name)));
    return {};
}

Expected<void> Extractor::hard_link(int parent, const std::string& leaf, archive_entry* entry, std::string_view name)
{
    auto target = entry_components(archive_entry_hardlink(entry), options_.limits);
    if (!target)
        return std::unexpected(refused(name, "hard link target: " + target.error().what));
    if (target->empty())
        return std::unexpected(refused(name, "hard link to the layer root"));
    auto target_dir = CAGE_TRY(open_directory(*target, target->size() - 1, false, name));
    struct stat st{};
    if (::fstatat(target_dir.get(), target->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return std::unexpected(refused(name, "hard link target is not in the layer"));
    if (S_ISDIR(st.st_mode))
        return std::unexpected(refused(name, "hard link to a directory"));
    CAGE_TRY(clear(parent, leaf, false, name));
    if (::linkat(target_dir.get(), target->back().c_str(), parent, leaf.c_str(), 0) < 0)
        return std::unexpected(errno_error("create a hard link", std::string(name)));
    return {};
}

Expected<void> Extractor::regular_file(archive* tar, int parent, const std::string& leaf, archive_entry* entry,
                                       std::string_view name)
{
    auto declared = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    if (declared < 0 || static_cast<std::uint64_t>(declared) > options_.limits.max_bytes - result.bytes)
        return std::unexpected(refused(name, "the layer is larger than the limit of " +
                                                 std::to_string(options_.limits.max_bytes) + " bytes"));
    constexpr int create_flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd fd(::openat(parent, leaf.c_str(), create_flags, 0600));
    if (!fd && errno == EEXIST) {
        CAGE_TRY(clear(parent, leaf, false, name));
        fd.reset(::openat(parent, leaf.c_str(), create_flags, 0600));
    }
    if (!fd)
        return std::unexpected(errno_error("create a layer file", std::string(name)));
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    std::uint64_t end = 0;
    int rc;
    while ((rc = archive_read_data_block(tar, &block, &size, &offset)) == ARCHIVE_OK) {
        if (offset < 0 || static_cast<std::uint64_t>(offset) + size > static_cast<std::uint64_t>(declared))
            return std::unexpected(refused(name, "data beyond the declared size"));
        result.bytes += size;
        end = std::max<std::uint64_t>(end, static_cast<std::uint64_t>(offset) + size);
        for (std::size_t done = 0; done < size;) {
            ssize_t wrote = ::pwrite(fd.get(), static_cast<const char*>(block) + done, size - done,
                                     static_cast<off_t>(static_cast<std::size_t>(offset) + done));
            if (wrote < 0 && errno == EINTR)
                continue;
            if (wrote < 0)
                return std::unexpected(errno_error("write a layer file", std::string(name)));
            done += static_cast<std::size_t>(wrote);
        }
    }
    if (rc != ARCHIVE_EOF)
        return std::unexpected(plain_error("cannot read the layer: " + archive_message(tar, "read error"),
                                           std::string(name)));
    if (end < static_cast<std::uint64_t>(declared) && ::ftruncate(fd.get(), declared) < 0)
        return std::unexpected(errno_error("write a layer file", std::string(name)));
    CAGE_TRY(set_owner(parent, leaf, entry));
    ::fchmod(fd.get(), archive_entry_perm(entry) & 07777);
    set_xattrs(fd.get(), entry);
    timespec times[2] = {{archive_entry_mtime(entry), 0}, {archive_entry_mtime(entry), 0}};
    ::futimens(fd.get(), times);
    return {};
}

Expected<void> Extractor::directory(int parent, const std::vector<std::string>& parts, archive_entry* entry,
                                    std::string_view name)
{
    const std::string& leaf = parts.back();
    CAGE_TRY(clear(parent, leaf, true, name));
    if (::mkdirat(parent, leaf.c_str(), 0700) < 0 && errno != EEXIST)
        return std::unexpected(errno_error("create a layer directory", std::string(name)));
    CAGE_TRY(set_owner(parent, leaf, entry));
    UniqueFd fd(::openat(parent, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd)
        set_xattrs(fd.get(), entry);
    directories_.push_back({parts, static_cast<mode_t>(archive_entry_perm(entry) & 07777),
                            {archive_entry_mtime(entry), 0}});
    return {};
}

Expected<void> Extractor::special(int parent, const std::string& leaf, archive_entry* entry, std::string_view name)
{
    auto type = archive_entry_filetype(entry);
    if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(entry);
        if (!target || !*target || std::string_view(target).size() > options_.limits.max_path)
            return std::unexpected(refused(name, "empty or over-long symlink target"));
        CAGE_TRY(clear(parent, leaf, false, name));
        if (::symlinkat(target, parent, leaf.c_str()) < 0)
            return std::unexpected(errno_error("create a symlink", std::string(name)));
        CAGE_TRY(set_owner(parent, leaf, entry));
        timespec times[2] = {{archive_entry_mtime(entry), 0}, {archive_entry_mtime(entry), 0}};
        ::utimensat(parent, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW);
        return {};
    }
    mode_t mode = static_cast<mode_t>(archive_entry_perm(entry) & 07777);
    dev_t device = 0;
    if (type == AE_IFIFO) {
        mode |= S_IFIFO;
    } else if (type == AE_IFCHR || type == AE_IFBLK) {
        if (!options_.make_devices)
            return {};  // device nodes are skipped rootless (and useless on a nodev mount)
        mode |= type == AE_IFCHR ? S_IFCHR : S_IFBLK;
        device = archive_entry_rdev(entry);
    } else {
        return {};  // sockets and unknown types carry nothing worth keeping
    }
    CAGE_TRY(clear(parent, leaf, false, name));
    if (::mknodat(parent, leaf.c_str(), mode, device) < 0)
        return std::unexpected(errno_error("create a special file", std::string(name)));
    CAGE_TRY(set_owner(parent, leaf, entry));
    return {};
}

Expected<void> Extractor::add(archive* tar, archive_entry* entry)
{
    kept_.reset();
    if (++result.entries > options_.limits.max_entries)
        return std::unexpected(plain_error("refused layer: more than " + std::to_string(options_.limits.max_entries) +
                                           " entries"));
    const char* raw_name = archive_entry_pathname(entry);
    if (!raw_name)
        return std::unexpected(plain_error("refused layer entry: no name (or not valid in this locale)"));
    std::string_view name = raw_name;
    auto parts = entry_components(name, options_.limits);
    if (!parts)
        return std::unexpected(refused(name, parts.error().what));
    if (parts->empty())
        return {};  // the layer root itself
    int parent = CAGE_TRY(parent_of(*parts, name));
    const std::string& leaf = parts->back();
    if (options_.whiteouts && leaf.starts_with(whiteout_prefix))
        return whiteout(parent, leaf, name);
    if (archive_entry_hardlink(entry))
        return hard_link(parent, leaf, entry, name);
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
        return regular_file(tar, parent, leaf, entry, name);
    case AE_IFDIR:
        return directory(parent, *parts, entry, name);
    default:
        return special(parent, leaf, entry, name);
    }
}

// Directory modes and times are set last, deepest first: a read-only directory must stay
// writable while its entries are created, and creating them changes its mtime.
Expected<void> Extractor::finish_directories()
{
    open_directories_.clear();
    uncached_.reset();
    kept_.reset();
    for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
        auto fd = open_directory(it->parts, it->parts.size(), false, it->parts.back());
        if (!fd)
            continue;  // replaced by a later entry
        if (::fchmod(fd->get(), it->mode) < 0)
            return std::unexpected(errno_error("set a layer directory mode", it->parts.back()));
        timespec times[2] = {it->mtime, it->mtime};
        ::futimens(fd->get(), times);
    }
    return {};
}

std::uint64_t env_limit(const char* name, std::uint64_t fallback)
{
    const char* text = std::getenv(name);
    if (!text || !*text)
        return fallback;
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text, text + std::string_view(text).size(), value);
    return ec == std::errc{} && *end == '\0' && value > 0 ? value : fallback;
}

}  // namespace

Expected<std::vector<std::string>> entry_components(std::string_view name, const UnpackLimits& limits)
{
    if (name.size() > limits.max_path)
        return std::unexpected(plain_error("name longer than " + std::to_string(limits.max_path) + " bytes"));
    if (name.starts_with("/"))
        return std::unexpected(plain_error("absolute name"));
    if (name.find('\0') != std::string_view::npos)
        return std::unexpected(plain_error("NUL in name"));
    std::vector<std::string> parts;
    while (!name.empty()) {
        auto slash = name.find('/');
        auto part = name.substr(0, slash);
        name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
        if (part.empty() || part == ".")
            continue;
        if (part == "..")
            return std::unexpected(plain_error("'..' in name"));
        if (part.size() > max_component)
            return std::unexpected(plain_error("a name component is longer than 255 bytes"));
        parts.emplace_back(part);
    }
    return parts;
}

UnpackOptions default_unpack_options()
{
    UnpackOptions options;
    options.keep_ownership = options.make_devices = ::geteuid() == 0;
    options.limits.max_bytes = env_limit("CAGE_MAX_LAYER_BYTES", options.limits.max_bytes);
    options.limits.max_entries = env_limit("CAGE_MAX_LAYER_ENTRIES", options.limits.max_entries);
    return options;
}

Expected<UnpackResult> unpack_layer(int blob_fd, int dest_fd, const UnpackOptions& options)
{
    auto source = std::make_unique<Source>();
    auto raw = CAGE_TRY(open_decompressed(blob_fd));
    source->raw = raw.get();
    // Headers, padding and pax records come on top of the file contents.
    source->limit = options.limits.max_bytes + options.limits.max_entries * 4096;
    ArchivePtr tar(archive_read_new());
    archive_read_support_format_tar(tar.get());
    if (archive_read_open(tar.get(), source.get(), nullptr, read_decompressed, nullptr) != ARCHIVE_OK)
        return std::unexpected(plain_error("cannot read the layer: " + archive_message(tar.get(), "cannot open")));
    Extractor extractor(dest_fd, options);
    archive_entry* entry = nullptr;
    int rc;
    while ((rc = archive_read_next_header(tar.get(), &entry)) == ARCHIVE_OK || rc == ARCHIVE_WARN)
        CAGE_TRY(extractor.add(tar.get(), entry));
    if (rc != ARCHIVE_EOF)
        return std::unexpected(plain_error(std::string("cannot read the layer: ") +
                                           archive_message(tar.get(), "not a tar archive")));
    CAGE_TRY(extractor.finish_directories());
    // The diff_id covers the whole stream, the zero blocks after the last entry included.
    const void* ignored = nullptr;
    la_ssize_t got;
    while ((got = read_decompressed(tar.get(), source.get(), &ignored)) > 0) {
    }
    if (got < 0)
        return std::unexpected(plain_error("cannot read the layer: " + archive_message(tar.get(), "read error")));
    extractor.result.diff_id = source->hash.finish();
    return extractor.result;
}

}  // namespace cage::image
