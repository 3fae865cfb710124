#include "image/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

#include "image/fsutil.hpp"
#include "image/reference.hpp"
#include "runtime/util.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::image {
namespace {

using Json = nlohmann::json;
constexpr std::size_t max_table_bytes = 64u << 20;

std::vector<std::string> list_directory(const std::string& path)
{
    std::vector<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (!dir)
        return names;
    while (auto* entry = ::readdir(dir)) {
        std::string_view name = entry->d_name;
        if (name != "." && name != "..")
            names.emplace_back(name);
    }
    ::closedir(dir);
    return names;
}

std::string now_utc()
{
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

Error bad_table(const std::string& why)
{
    return plain_error("invalid images.json: " + why);
}

Expected<std::vector<std::string>> digest_list(const Json& object, const char* key)
{
    std::vector<std::string> result;
    auto it = object.find(key);
    if (it == object.end() || !it->is_array())
        return std::unexpected(bad_table(std::string(key) + " is not a list"));
    for (const auto& item : *it) {
        if (!item.is_string() || !valid_digest(item.get<std::string>()))
            return std::unexpected(bad_table(std::string(key) + " holds an invalid digest"));
        result.push_back(item.get<std::string>());
    }
    return result;
}

Expected<void> make_directory(const std::string& path)
{
    if (!make_host_directories(path, 0700))
        return std::unexpected(errno_error("create the image store", path));
    return {};
}

// Remove what killed mutations left: ".tmp-*" names (only ever written under the lock).
void remove_temporaries(const std::string& dir)
{
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd)
        return;
    for (const auto& name : list_directory(dir))
        if (name.starts_with(".tmp-"))
            (void)remove_tree_at(fd.get(), name);
}

}  // namespace

std::string encode_table(const ImageTable& table)
{
    Json images = Json::object();
    for (const auto& [reference, record] : table)
        images[reference] = Json{{"manifest", record.manifest}, {"config", record.config},
                                 {"layers", record.layers}, {"blobs", record.blobs},
                                 {"size", record.size}, {"created", record.created}};
    return Json{{"version", 1}, {"images", images}}.dump(2) + "\n";
}

Expected<ImageTable> decode_table(std::string_view text)
{
    Json json = Json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded() || !json.is_object())
        return std::unexpected(bad_table("not a JSON object"));
    auto images = json.find("images");
    if (images == json.end() || !images->is_object())
        return std::unexpected(bad_table("no images object"));
    ImageTable table;
    for (const auto& [reference, entry] : images->items()) {
        if (!entry.is_object() || !parse_reference(reference))
            return std::unexpected(bad_table("bad entry '" + reference.substr(0, 200) + "'"));
        ImageRecord record;
        auto manifest = entry.find("manifest");
        auto config = entry.find("config");
        auto size = entry.find("size");
        auto created = entry.find("created");
        if (manifest == entry.end() || !manifest->is_string() || config == entry.end() || !config->is_string() ||
            size == entry.end() || !size->is_number_unsigned() || created == entry.end() || !created->is_string())
            return std::unexpected(bad_table("incomplete entry '" + reference.substr(0, 200) + "'"));
        record.manifest = manifest->get<std::string>();
        record.config = config->get<std::string>();
        if ((!record.manifest.empty() && !valid_digest(record.manifest)) || !valid_digest(record.config))
            return std::unexpected(bad_table("invalid digest in '" + reference.substr(0, 200) + "'"));
        record.layers = CAGE_TRY(digest_list(entry, "layers"));
        record.blobs = CAGE_TRY(digest_list(entry, "blobs"));
        record.size = size->get<std::uint64_t>();
        record.created = created->get<std::string>();
        table.emplace(reference, std::move(record));
    }
    return table;
}

BlobWriter::~BlobWriter()
{
    if (fd_)
        ::unlink(temporary_.c_str());
}

Expected<void> BlobWriter::write(const void* data, std::size_t size)
{
    if (size > limit_ - size_)
        return std::unexpected(plain_error("refused blob: larger than " + std::to_string(limit_) + " bytes"));
    hash_->update(data, size);
    size_ += size;
    for (std::size_t done = 0; done < size;) {
        ssize_t wrote = ::write(fd_.get(), static_cast<const char*>(data) + done, size - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0)
            return std::unexpected(errno_error("write a blob", temporary_));
        done += static_cast<std::size_t>(wrote);
    }
    return {};
}

Expected<std::string> BlobWriter::commit(std::string_view expected)
{
    auto digest = hash_->finish();
    if (!expected.empty() && digest != expected)
        return std::unexpected(plain_error("refused blob: its content does not match its digest (got " + digest + ")",
                                           std::string(expected)));
    if (::fsync(fd_.get()) < 0)
        return std::unexpected(errno_error("write a blob", temporary_));
    fd_.reset();
    if (::rename(temporary_.c_str(), (dir_ + "/" + std::string(digest_hex(digest))).c_str()) < 0) {
        auto error = errno_error("store a blob", temporary_);
        ::unlink(temporary_.c_str());
        return std::unexpected(error);
    }
    CAGE_TRY(sync_directory(dir_));
    return digest;
}

Expected<Store> Store::open(std::string root)
{
    CAGE_TRY(make_directory(root + "/blobs/sha256"));
    CAGE_TRY(make_directory(root + "/layers"));
    // Layers must be reachable by the container's users; blobs stay private.
    ::chmod(root.c_str(), 0711);
    ::chmod((root + "/layers").c_str(), 0711);
    return Store(std::move(root));
}

Expected<Store> Store::open_default()
{
    if (const char* dir = std::getenv("CAGE_IMAGE_STORE"); dir && dir[0] == '/')
        return open(dir);
    return open(sandbox::data_dir());
}

std::string Store::blob_path(std::string_view digest) const
{
    return root_ + "/blobs/sha256/" + std::string(digest_hex(digest));
}

std::string Store::layer_path(std::string_view diff_id) const
{
    return root_ + "/layers/" + std::string(digest_hex(diff_id));
}

bool Store::has_blob(std::string_view digest) const
{
    struct stat st{};
    return valid_digest(digest) && ::lstat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Store::has_layer(std::string_view diff_id) const
{
    struct stat st{};
    return valid_digest(diff_id) && ::lstat(layer_path(diff_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Expected<void> Store::lock()
{
    if (lock_fd_)
        return {};
    auto path = root_ + "/lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd)
        return std::unexpected(errno_error("open the image store lock", path));
    while (::flock(fd.get(), LOCK_EX) < 0)
        if (errno != EINTR)
            return std::unexpected(errno_error("lock the image store", path));
    lock_fd_ = std::move(fd);
    remove_temporaries(root_ + "/blobs/sha256");
    remove_temporaries(root_ + "/layers");
    remove_temporaries(root_);
    return {};
}

Expected<BlobWriter> Store::new_blob(std::uint64_t limit) const
{
    BlobWriter writer;
    writer.dir_ = root_ + "/blobs/sha256";
    writer.temporary_ = writer.dir_ + "/" + temporary_name(".tmp-");
    writer.fd_.reset(::open(writer.temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!writer.fd_)
        return std::unexpected(errno_error("create a blob", writer.temporary_));
    writer.hash_ = std::make_unique<Sha256>();
    writer.limit_ = limit;
    return writer;
}

Expected<std::string> Store::put_blob(int fd, std::string_view expected, std::uint64_t limit)
{
    if (!expected.empty() && has_blob(expected))
        return std::string(expected);
    auto writer = CAGE_TRY(new_blob(limit));
    CAGE_TRY(for_each_chunk(fd, [&](const char* data, std::size_t size) { return writer.write(data, size); }));
    return writer.commit(expected);
}

Expected<std::string> Store::put_blob(std::string_view content, std::string_view expected)
{
    if (!expected.empty() && has_blob(expected))
        return std::string(expected);
    auto writer = CAGE_TRY(new_blob(content.size()));
    CAGE_TRY(writer.write(content.data(), content.size()));
    return writer.commit(expected);
}

Expected<std::string> Store::read_blob(std::string_view digest, std::size_t limit) const
{
    UniqueFd dir(::open((root_ + "/blobs/sha256").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir)
        return std::unexpected(errno_error("open the blob store", root_));
    auto content = CAGE_TRY(read_bounded(dir.get(), std::string(digest_hex(digest)), limit));
    if (sha256_of(content) != digest)  // a blob damaged on disk is not used
        return std::unexpected(plain_error("a stored blob does not match its digest", blob_path(digest)));
    return content;
}

Expected<ImageTable> Store::images() const
{
    UniqueFd dir(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir)
        return std::unexpected(errno_error("open the image store", root_));
    auto content = read_bounded(dir.get(), "images.json", max_table_bytes);
    if (!content && content.error().errnum == ENOENT)
        return ImageTable{};
    if (!content)
        return std::unexpected(content.error());
    return decode_table(*content);
}

Expected<void> Store::save(const ImageTable& table)
{
    return write_file_atomic(root_, "images.json", encode_table(table));
}

Expected<void> Store::tag(const std::string& reference, ImageRecord record)
{
    auto table = CAGE_TRY(images());
    if (record.created.empty())
        record.created = now_utc();
    table[reference] = std::move(record);
    return save(table);
}

Expected<void> Store::untag(const std::string& reference)
{
    auto table = CAGE_TRY(images());
    if (table.erase(reference) == 0)
        return std::unexpected(plain_error("no such image", reference));
    return save(table);
}

Expected<PruneReport> Store::prune()
{
    auto table = CAGE_TRY(images());
    std::set<std::string> layers, blobs;
    for (const auto& [reference, record] : table) {
        for (const auto& layer : record.layers)
            layers.insert(std::string(digest_hex(layer)));
        for (const auto& blob : record.blobs)
            blobs.insert(std::string(digest_hex(blob)));
        blobs.insert(std::string(digest_hex(record.config)));
        if (!record.manifest.empty())
            blobs.insert(std::string(digest_hex(record.manifest)));
    }
    PruneReport report;
    auto sweep = [&](const std::string& dir, const std::set<std::string>& keep,
                     std::vector<std::string>& removed) -> Expected<void> {
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd)
            return std::unexpected(errno_error("open", dir));
        for (const auto& name : list_directory(dir)) {
            if (keep.contains(name) || name.starts_with("."))
                continue;
            // Renamed away first, so the name disappears at once even if removal is cut short.
            auto doomed = temporary_name(".tmp-gc-");
            if (::renameat(fd.get(), name.c_str(), fd.get(), doomed.c_str()) < 0)
                return std::unexpected(errno_error("remove", dir + "/" + name));
            report.bytes += tree_bytes(fd.get(), doomed);
            CAGE_TRY(remove_tree_at(fd.get(), doomed));
            removed.push_back("sha256:" + name);
        }
        return {};
    };
    CAGE_TRY(sweep(root_ + "/layers", layers, report.layers));
    CAGE_TRY(sweep(root_ + "/blobs/sha256", blobs, report.blobs));
    return report;
}

Expected<std::pair<std::string, ImageRecord>> Store::find(std::string_view text) const
{
    auto table = CAGE_TRY(images());
    for (auto parse : {parse_reference, parse_local_reference}) {
        auto reference = parse(text);
        if (!reference)
            continue;
        if (auto it = table.find(reference->str()); it != table.end())
            return *it;
    }
    auto id = text.starts_with("sha256:") ? text.substr(7) : text;
    const std::pair<const std::string, ImageRecord>* match = nullptr;
    bool hex = id.size() >= 4 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
    for (const auto& entry : table) {
        if (!hex || !digest_hex(entry.second.config).starts_with(id))
            continue;
        if (match && match->second.config != entry.second.config)
            return std::unexpected(plain_error("ambiguous image id prefix", std::string(text)));
        match = &entry;
    }
    if (match)
        return *match;
    return std::unexpected(plain_error("no such image", std::string(text), "see 'cage images', 'cage pull' or 'cage import'"));
}

}  // namespace cage::image
