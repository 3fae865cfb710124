// Store::add_layer, apart from the rest of the store: it is the one part that unpacks (with
// libarchive), and cage itself, which only reads the store, must not link that in (see
// cage-image in meson.build).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.hpp"
#include "image/fsutil.hpp"
#include "image/store.hpp"
#include "image/unpack.hpp"

namespace cage::image {

Expected<std::uint64_t> Store::add_layer(std::string_view blob, std::string_view diff_id, const UnpackOptions& options)
{
    if (has_layer(diff_id))
        return tree_bytes(AT_FDCWD, layer_path(diff_id));
    auto layers = root_ + "/layers";
    auto temporary = temporary_name(".tmp-");
    UniqueFd layers_fd(::open(layers.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!layers_fd || ::mkdirat(layers_fd.get(), temporary.c_str(), 0700) < 0)
        return std::unexpected(errno_error("create a layer directory", layers));
    auto cleanup = [&] { (void)remove_tree_at(layers_fd.get(), temporary); };
    UniqueFd dest(::openat(layers_fd.get(), temporary.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    UniqueFd source(::open(blob_path(blob).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!dest || !source) {
        auto error = errno_error("unpack a layer", blob_path(blob));
        cleanup();
        return std::unexpected(error);
    }
    auto unpacked = unpack_layer(source.get(), dest.get(), options);
    if (!unpacked) {
        cleanup();
        return std::unexpected(unpacked.error());
    }
    if (unpacked->diff_id != diff_id) {
        cleanup();
        return std::unexpected(plain_error("refused layer: its content does not match the image's diff_id (got " +
                                               unpacked->diff_id + ")",
                                           std::string(diff_id)));
    }
    ::fchmod(dest.get(), 0755);
    if (::syncfs(dest.get()) < 0 ||
        ::renameat(layers_fd.get(), temporary.c_str(), layers_fd.get(), std::string(digest_hex(diff_id)).c_str()) < 0) {
        auto error = errno_error("store a layer", layer_path(diff_id));
        cleanup();
        return std::unexpected(error);
    }
    CAGE_TRY(sync_directory(layers));
    return unpacked->bytes;
}

}  // namespace cage::image
