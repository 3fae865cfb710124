// cage images, cage rmi, cage prune: look at and tidy the image store.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "image/store.hpp"

namespace cage::cli {
namespace {

constexpr const char* images_usage =
    "Usage: cage images [--format table|json]\n"
    "\n"
    "List the stored images: reference, image id (config digest), unpacked size, when stored.\n";
constexpr const char* rmi_usage =
    "Usage: cage rmi REF...\n"
    "\n"
    "Remove image references. Their layers and blobs stay until 'cage prune'.\n";
constexpr const char* prune_usage =
    "Usage: cage prune\n"
    "\n"
    "Remove the layers and blobs that no image refers to, and print what was freed.\n";

bool wants_help(std::span<const std::string> args)
{
    return !args.empty() && (args[0] == "-h" || args[0] == "--help");
}

std::string human_size(std::uint64_t bytes)
{
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000 && unit < 4) {
        value /= 1000;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

void print_table(const image::ImageTable& table)
{
    std::printf("%-50s %-12s %10s  %s\n", "REFERENCE", "IMAGE ID", "SIZE", "STORED");
    for (const auto& [reference, record] : table)
        std::printf("%-50s %-12s %10s  %s\n", reference.c_str(),
                    std::string(image::digest_hex(record.config).substr(0, 12)).c_str(),
                    human_size(record.size).c_str(), record.created.c_str());
}

void print_json(const image::ImageTable& table)
{
    auto list = nlohmann::json::array();
    for (const auto& [reference, record] : table)
        list.push_back({{"reference", reference}, {"id", record.config}, {"manifest", record.manifest},
                        {"layers", record.layers}, {"size", record.size}, {"created", record.created}});
    std::printf("%s\n", list.dump(2).c_str());
}

}  // namespace

int cmd_images(std::span<const std::string> args)
{
    if (wants_help(args)) {
        std::fputs(images_usage, stdout);
        return 0;
    }
    std::string format = "table";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--format" && i + 1 < args.size())
            format = args[++i];
        else if (args[i].starts_with("--format="))
            format = args[i].substr(9);
        else
            return report_failure(plain_error("unknown argument", args[i], "see 'cage images --help'"));
    }
    if (format != "table" && format != "json")
        return report_failure(plain_error("invalid --format (use table or json)", format));
    auto store = image::Store::open_default();
    if (!store)
        return report_failure(store.error());
    auto table = store->images();
    if (!table)
        return report_failure(table.error());
    format == "json" ? print_json(*table) : print_table(*table);
    return 0;
}

int cmd_rmi(std::span<const std::string> args)
{
    if (wants_help(args) || args.empty()) {
        std::fputs(rmi_usage, args.empty() ? stderr : stdout);
        return args.empty() ? exit_cage_error : 0;
    }
    auto store = image::Store::open_default();
    if (!store)
        return report_failure(store.error());
    if (auto locked = store->lock(); !locked)
        return report_failure(locked.error());
    int status = 0;
    for (const auto& text : args) {
        auto found = store->find(text);
        auto removed = found ? store->untag(found->first) : Expected<void>(std::unexpected(found.error()));
        if (!removed) {
            status = report_failure(removed.error());
            continue;
        }
        std::printf("Untagged: %s\n", found->first.c_str());
    }
    return status;
}

int cmd_prune(std::span<const std::string> args)
{
    if (wants_help(args)) {
        std::fputs(prune_usage, stdout);
        return 0;
    }
    if (!args.empty())
        return report_failure(plain_error("unknown argument", args[0], "see 'cage prune --help'"));
    auto store = image::Store::open_default();
    if (!store)
        return report_failure(store.error());
    if (auto locked = store->lock(); !locked)
        return report_failure(locked.error());
    auto report = store->prune();
    if (!report)
        return report_failure(report.error());
    for (const auto& layer : report->layers)
        std::printf("deleted layer %s\n", layer.c_str());
    for (const auto& blob : report->blobs)
        std::printf("deleted blob %s\n", blob.c_str());
    std::printf("freed %s (%zu layers, %zu blobs)\n", human_size(report->bytes).c_str(), report->layers.size(),
                report->blobs.size());
    return 0;
}

}  // namespace cage::cli
