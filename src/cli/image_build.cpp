#include "cli/image_build.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/subprocess.hpp"
#include "image/fsutil.hpp"
#include "runtime/fd.hpp"
#include "runtime/safe_path.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::cli {
namespace {

// The images of a build are named under localhost/, as imported images are ("claude" is
// found as localhost/claude:latest).
constexpr const char* local_prefix = "localhost/";

bool executable(const std::string& path)
{
    return ::access(path.c_str(), X_OK) == 0;
}

std::string local_name(const std::string& reference)
{
    auto slash = reference.find('/');
    bool has_registry = slash != std::string::npos &&
                        reference.find_first_of(".:", 0) < slash;
    if (has_registry || reference.starts_with(local_prefix))
        return reference;
    return local_prefix + reference;
}

// The layout names the images of the chain PREFIX + NAME:latest, the last one TAG if given.
std::vector<std::string> builder_command(const std::string& builder, const BuildRequest& request,
                                         const std::string& output, const std::string& prefix)
{
    std::vector<std::string> argv{builder, "build", request.recipe, "--output", output, "--name-prefix", prefix};
    if (request.tag)
        argv.insert(argv.end(), {"--tag", *request.tag});
    if (request.no_cache)
        argv.push_back("--no-cache");
    return argv;
}

// One build's private directory for its layout. The build holds an exclusive flock on it for
// as long as it runs; the kernel drops the lock when the build dies.
struct Scratch {
    std::string path;
    UniqueFd lock;
};

// Directories of builds that were killed: their lock can be taken.
void remove_abandoned(int parent_fd)
{
    DIR* dir = ::fdopendir(::dup(parent_fd));
    if (!dir)
        return;
    std::vector<std::string> abandoned;
    while (auto* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (!name.starts_with("layout."))
            continue;
        UniqueFd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0)
            abandoned.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : abandoned)
        (void)image::remove_tree_at(parent_fd, name);
}

// Made as new.XXXXXX, locked, then renamed to layout.XXXXXX: a directory under its final name
// is always locked by a live build or abandoned, never caught between creation and lock.
Expected<Scratch> scratch_directory()
{
    std::string parent = sandbox::cache_dir() + "/build-layouts";
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    auto parent_fd = CAGE_TRY(safe_path::make_directories(root.get(), parent, 0700));
    UniqueFd parent_dir(::openat(parent_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent_dir)
        return std::unexpected(errno_error("cannot open the directory for builds", parent));
    remove_abandoned(parent_dir.get());
    std::string fresh = parent + "/new.XXXXXX";
    if (!::mkdtemp(fresh.data()))
        return std::unexpected(errno_error("cannot make a directory for the build", parent));
    Scratch scratch{parent + "/layout." + fresh.substr(fresh.size() - 6), UniqueFd(::open(fresh.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC))};
    if (!scratch.lock || ::flock(scratch.lock.get(), LOCK_EX) < 0 || ::rename(fresh.c_str(), scratch.path.c_str()) < 0) {
        auto error = errno_error("cannot make a directory for the build", fresh);
        ::rmdir(fresh.c_str());
        return std::unexpected(error);
    }
    return scratch;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < text.size();) {
        auto end = std::min(text.find('\n', start), text.size());
        if (end > start)
            lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

}  // namespace

Expected<std::string> find_builder()
{
    if (const char* chosen = std::getenv("CAGE_BUILDER"); chosen && *chosen)
        return std::string(chosen);
    std::vector<std::string> candidates;
    if (auto bin = directory_of_this_binary(); !bin.empty())
        candidates.push_back(bin + "/../share/cage/rootfs-builder/cage-build");
    candidates.push_back(std::string(CAGE_DATADIR) + "/cage/rootfs-builder/cage-build");
    candidates.push_back(std::string(CAGE_SOURCE_ROOT) + "/rootfs-builder/cage-build");
    for (const auto& candidate : candidates)
        if (executable(candidate))
            return candidate;
    return std::unexpected(plain_error("cannot find the image builder (rootfs-builder/cage-build)", candidates.back(),
                                       "install cage, or set CAGE_BUILDER"));
}

bool has_recipe(const std::string& builder, const std::string& name)
{
    if (!sandbox::valid_name(name))
        return false;
    auto recipes = builder.substr(0, builder.find_last_of('/')) + "/recipes/";
    struct stat st{};
    return ::stat((recipes + name + ".yaml").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

namespace {

Expected<std::string> run_builder(const std::string& builder, const BuildRequest& request,
                                  const std::string& output, const std::string& prefix)
{
    auto result = CAGE_TRY(run_program(builder_command(builder, request, output, prefix), true));
    // The builder printed its own one-line error: an error without a message.
    if (result.status != 0)
        return std::unexpected(Error{{}, 0, {}, {}, result.status});
    if (result.output.empty() || result.output.find('\n') != std::string::npos)
        return std::unexpected(plain_error("the image builder did not name the image it built", builder));
    return result.output;
}

}  // namespace

Expected<std::string> build_to_layout(const std::string& builder, const BuildRequest& request,
                                      const std::string& output)
{
    return run_builder(builder, request, output, "");
}

Expected<std::vector<std::string>> build_into_store(const std::string& builder, const BuildRequest& request)
{
    auto scratch = CAGE_TRY(scratch_directory());
    auto remove_scratch = [&] { (void)image::remove_tree_at(AT_FDCWD, scratch.path); };
    auto layout = scratch.path + "/layout";
    BuildRequest local = request;
    if (local.tag)
        local.tag = local_name(*local.tag);
    auto built = run_builder(builder, local, layout, local_prefix);
    if (!built) {
        remove_scratch();
        return std::unexpected(built.error());
    }
    auto imported = run_program({image_helper_path(), "import", layout}, true);
    remove_scratch();
    if (!imported)
        return std::unexpected(imported.error());
    if (imported->status != 0)  // cage-image printed why
        return std::unexpected(Error{{}, 0, {}, {}, imported->status});
    auto stored = lines_of(imported->output);
    // The recipe's own image last, the order `cage run` relies on.
    std::erase(stored, *built);
    stored.push_back(*built);
    return stored;
}

}  // namespace cage::cli
