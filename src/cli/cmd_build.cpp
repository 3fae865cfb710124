// cage build RECIPE [--tag REF] [--output DIR] [--no-cache]: build an agent image from a
// rootfs-builder recipe into an OCI image layout, with the builder (rootfs-builder/cage-build).
#include <cage/error.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "runtime/fd.hpp"
#include "sandbox/sandbox.hpp"

extern char** environ;

namespace cage::cli {
namespace {

constexpr const char* build_usage =
    "Usage: cage build RECIPE [--tag REF] [--output DIR] [--no-cache]\n"
    "\n"
    "Build the image of a recipe (a name from rootfs-builder/recipes, or a .yaml file; see\n"
    "cage-recipe(5)) and its parents, one layer each, without Docker: the base with mmdebstrap\n"
    "from the host's apt sources, the others by running their steps over the parent layers.\n"
    "Layers are deterministic and cached by recipe content. Needs root for now.\n"
    "\n"
    "Options:\n"
    "      --tag REF      reference of the built image (default: RECIPE:latest)\n"
    "      --output DIR   the OCI image layout to write or add to\n"
    "                     (default: $XDG_DATA_HOME/cage/build, root: /var/lib/cage/build)\n"
    "      --no-cache     rebuild every layer\n"
    "  -h, --help         show this help\n";

struct BuildOptions {
    std::string recipe;
    std::optional<std::string> tag;
    std::string output;
    bool no_cache = false;
};

int fail(const Error& error)
{
    std::fprintf(stderr, "cage: %s\n", error.message().c_str());
    return error.exit_code;
}

Error build_usage_error(std::string what, std::string detail = {})
{
    return Error{std::move(what), 0, std::move(detail), "see 'cage build --help'", exit_cage_error};
}

Expected<BuildOptions> parse_build_options(std::span<const std::string> args)
{
    BuildOptions options;
    options.output = sandbox::data_dir() + "/build";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& arg = args[i];
        bool has_value = i + 1 < args.size();
        if ((arg == "--tag" || arg == "--output") && !has_value)
            return std::unexpected(build_usage_error("option needs a value", arg));
        if (arg == "--tag")
            options.tag = args[++i];
        else if (arg == "--output")
            options.output = args[++i];
        else if (arg == "--no-cache")
            options.no_cache = true;
        else if (arg.starts_with("-"))
            return std::unexpected(build_usage_error("unknown option", arg));
        else if (options.recipe.empty())
            options.recipe = arg;
        else
            return std::unexpected(build_usage_error("one recipe at a time", arg));
    }
    if (options.recipe.empty())
        return std::unexpected(build_usage_error("no recipe given"));
    return options;
}

bool executable(const std::string& path)
{
    return ::access(path.c_str(), X_OK) == 0;
}

// $CAGE_BUILDER; beside an installed cage (PREFIX/bin/cage -> PREFIX/share/cage/...); the
// configured data directory; the source tree cage was built from.
Expected<std::string> find_builder()
{
    if (const char* chosen = std::getenv("CAGE_BUILDER"); chosen && *chosen)
        return std::string(chosen);
    std::vector<std::string> candidates;
    char self[PATH_MAX];
    if (ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1); length > 0) {
        std::string bin(self, static_cast<std::size_t>(length));
        candidates.push_back(bin.substr(0, bin.find_last_of('/')) + "/../share/cage/rootfs-builder/cage-build");
    }
    candidates.push_back(std::string(CAGE_DATADIR) + "/cage/rootfs-builder/cage-build");
    candidates.push_back(std::string(CAGE_SOURCE_ROOT) + "/rootfs-builder/cage-build");
    for (const auto& candidate : candidates)
        if (executable(candidate))
            return candidate;
    return std::unexpected(plain_error("cannot find the image builder (rootfs-builder/cage-build)", candidates.back(),
                                       "install cage, or set CAGE_BUILDER"));
}

struct BuilderResult {
    int status = 0;
    std::string reference;  // what the builder printed: the built image's reference
};

Expected<std::string> read_all(int fd)
{
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return std::unexpected(errno_error("cannot read the image builder's output"));
        if (got == 0)
            return text;
        text.append(buffer, static_cast<std::size_t>(got));
    }
}

Expected<BuilderResult> run_builder(const std::string& builder, const BuildOptions& options)
{
    std::vector<std::string> args{builder, "build", options.recipe, "--output", options.output};
    if (options.tag)
        args.insert(args.end(), {"--tag", *options.tag});
    if (options.no_cache)
        args.push_back("--no-cache");
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) < 0)
        return std::unexpected(errno_error("cannot start the image builder", builder));
    UniqueFd reader(out[0]);
    UniqueFd writer(out[1]);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, writer.get(), STDOUT_FILENO);
    pid_t pid = 0;
    int error = ::posix_spawn(&pid, builder.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    writer = UniqueFd();
    if (error != 0) {
        errno = error;
        return std::unexpected(errno_error("cannot start the image builder", builder));
    }
    auto printed = read_all(reader.get());
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return std::unexpected(errno_error("cannot wait for the image builder", builder));
    if (!printed)
        return std::unexpected(printed.error());
    while (!printed->empty() && printed->back() == '\n')
        printed->pop_back();
    return BuilderResult{WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status), *printed};
}

// INTEGRATION POINT (issue 5, branch images): store the built image. When the image store is
// merged, import REFERENCE from the layout here (image::import_images on LAYOUT with the name
// REFERENCE) so that `cage run REFERENCE` finds it. Until then the layout is the result.
int store_built_image(const std::string& layout, const std::string& reference)
{
    std::printf("%s\n", layout.c_str());
    std::fprintf(stderr, "cage: built %s into the OCI image layout %s\n", reference.c_str(), layout.c_str());
    return 0;
}

}  // namespace

int cmd_build(std::span<const std::string> args)
{
    for (const auto& arg : args)
        if (arg == "-h" || arg == "--help") {
            std::fputs(build_usage, stdout);
            return 0;
        }
    auto options = parse_build_options(args);
    if (!options)
        return fail(options.error());
    auto builder = find_builder();
    if (!builder)
        return fail(builder.error());
    auto result = run_builder(*builder, *options);
    if (!result)
        return fail(result.error());
    if (result->status != 0)
        return result->status;  // the builder printed its one-line error
    if (result->reference.empty() || result->reference.find('\n') != std::string::npos)
        return fail(plain_error("the image builder did not name the image it built", *builder));
    return store_built_image(options->output, result->reference);
}

}  // namespace cage::cli
