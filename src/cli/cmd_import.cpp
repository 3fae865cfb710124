// cage import PATH [NAME[:TAG]]: store images from an OCI layout or a docker archive.
#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "image/layout.hpp"

namespace cage::cli {

namespace {
constexpr const char* import_usage =
    "Usage: cage import PATH [NAME[:TAG]]\n"
    "\n"
    "Store the images of PATH: an OCI image layout (a directory, or a tar of one, as\n"
    "'skopeo copy ... oci:DIR' writes) or a docker archive ('docker save'). Every blob and\n"
    "layer is verified against its digest and unpacked safely. NAME defaults to the image's\n"
    "own name (its ref.name annotation or RepoTags), else to localhost/<file name>.\n";
}  // namespace

int cmd_import(std::span<const std::string> args)
{
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
        std::fputs(import_usage, stdout);
        return 0;
    }
    if (args.empty() || args.size() > 2) {
        std::fputs(import_usage, stderr);
        return exit_cage_error;
    }
    auto store = image::Store::open_default();
    if (!store)
        return report_failure(store.error());
    if (auto locked = store->lock(); !locked)
        return report_failure(locked.error());
    image::ImportOptions options;
    if (args.size() == 2)
        options.name = args[1];
    options.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    auto stored = image::import_images(*store, args[0], options);
    if (!stored)
        return report_failure(stored.error());
    for (const auto& reference : *stored)
        std::printf("%s\n", reference.c_str());
    return 0;
}

}  // namespace cage::cli
