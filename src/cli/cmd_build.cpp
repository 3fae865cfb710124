// cage build RECIPE [--tag REF] [--output DIR] [--no-cache]: build an agent image from a
// rootfs-builder recipe into an OCI image layout, with the builder (rootfs-builder/cage-build).
#include <cage/error.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
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

Expected<int> run_builder(const std::string& builder, const BuildOptions& options)
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
    pid_t pid = 0;
    if (int error = ::posix_spawn(&pid, builder.c_str(), nullptr, nullptr, argv.data(), environ); error != 0) {
        errno = error;
        return std::unexpected(errno_error("cannot start the image builder", builder));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return std::unexpected(errno_error("cannot wait for the image builder", builder));
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
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
    auto status = run_builder(*builder, *options);
    if (!status)
        return fail(status.error());
    if (*status != 0)
        return *status;  // the builder printed its one-line error
    auto name = options->recipe.substr(options->recipe.find_last_of('/') + 1);
    name = name.substr(0, name.find(".yaml"));
    return store_built_image(options->output, options->tag.value_or(name + ":latest"));
}

}  // namespace cage::cli
