// cage build RECIPE [--tag REF] [--output DIR] [--no-cache]: build an agent image from a
// rootfs-builder recipe into the image store, or into an OCI image layout.
#include <cage/error.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "cli/image_build.hpp"

namespace cage::cli {
namespace {

constexpr const char* build_usage =
    "Usage: cage build RECIPE [--tag REF] [--output DIR] [--no-cache]\n"
    "\n"
    "Build the image of a recipe (a name from rootfs-builder/recipes, or a .yaml file; see\n"
    "cage-recipe(5)) and its parents, one layer each, without Docker: the base with mmdebstrap\n"
    "from the host's apt sources, the others by running their steps over the parent layers.\n"
    "Layers are deterministic and cached by recipe content. Every image of the chain is\n"
    "stored (base, node, ..., the recipe's own), named localhost/NAME:latest; their\n"
    "references are printed. Rootless builds map ids through the user's /etc/subuid and\n"
    "/etc/subgid ranges (newuidmap, as 'cage run' does).\n"
    "\n"
    "Options:\n"
    "      --tag REF      reference of the built image (default: localhost/RECIPE:latest)\n"
    "      --output DIR   write an OCI image layout (created, or added to) instead of storing\n"
    "      --no-cache     rebuild every layer\n"
    "  -h, --help         show this help\n";

struct BuildOptions {
    std::string recipe;
    std::optional<std::string> tag;
    std::optional<std::string> output;
    bool no_cache = false;
};

Error build_usage_error(std::string what, std::string detail = {})
{
    return Error{std::move(what), 0, std::move(detail), "see 'cage build --help'", exit_cage_error};
}

Expected<BuildOptions> parse_build_options(std::span<const std::string> args)
{
    BuildOptions options;
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

int store_image(const std::string& builder, const BuildOptions& options)
{
    auto stored = build_into_store(builder, BuildRequest{options.recipe, options.tag, options.no_cache});
    if (!stored)
        return report_failure(stored.error());
    for (const auto& reference : *stored)
        std::printf("%s\n", reference.c_str());
    std::fprintf(stderr, "cage: built %s and stored it in the image store (see 'cage images')\n", stored->back().c_str());
    return 0;
}

int write_layout(const std::string& builder, const BuildOptions& options)
{
    auto built = build_to_layout(builder, BuildRequest{options.recipe, options.tag, options.no_cache}, *options.output);
    if (!built)
        return report_failure(built.error());
    std::printf("%s\n", options.output->c_str());
    std::fprintf(stderr, "cage: built %s into the OCI image layout %s\n", built->c_str(), options.output->c_str());
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
        return report_failure(options.error());
    auto builder = find_builder();
    if (!builder)
        return report_failure(builder.error());
    return options->output ? write_layout(*builder, *options) : store_image(*builder, *options);
}

}  // namespace cage::cli
