#include "cli/run_target.hpp"

#include <cstdio>

#include "cli/image_build.hpp"
#include "image/store.hpp"

namespace cage::cli {
namespace {

bool stored(const std::string& reference)
{
    auto store = image::Store::open_default();
    return store && store->find(reference).has_value();
}

// The profile gives the persistent home (unless --ephemeral-home), the network (unless
// --network) and the variables passed from the caller's environment.
void choose_profile(sandbox::RunOptions& options, const config::Profiles& profiles)
{
    std::string name;
    if (options.image)
        name = config::profile_of_image(profiles, *options.image);
    else if (!options.command.empty())
        name = config::choose(profiles, options.command.front()).profile;
    if (!options.ephemeral_home)
        options.profile = name;
    const auto* profile = config::find_profile(profiles, name);
    if (!profile)
        return;
    if (profile->network == "slirp4netns")
        options.profile_network = runtime::Network::slirp4netns;
    options.profile_env = profile->env;
}

}  // namespace

bool reads_like_reference(std::string_view text)
{
    return text.find_first_of("/:@") != std::string_view::npos;
}

Target choose_target(sandbox::RunOptions& options, const config::Profiles& profiles)
{
    std::string word = options.image_from_word ? options.image.value_or("") : "";
    Target target;
    bool maybe_command = !word.empty() && !reads_like_reference(word);
    target.stored = maybe_command && stored(word);
    if (maybe_command && !target.stored) {
        auto choice = config::choose(profiles, word);
        target.chosen_by = word;
        std::vector<std::string> command{std::move(word)};
        command.insert(command.end(), options.command.begin(), options.command.end());
        options.command = std::move(command);
        options.image = choice.image;
        options.entrypoint = std::vector<std::string>{};
    }
    choose_profile(options, profiles);
    return target;
}

Expected<void> build_missing_image(const sandbox::RunOptions& options, const Target& target)
{
    if (target.stored || !options.image || reads_like_reference(*options.image) || stored(*options.image))
        return {};
    const auto& chosen_by = target.chosen_by;
    auto builder = find_builder();
    if (!builder || !has_recipe(*builder, *options.image)) {
        if (!chosen_by)
            return {};
        return std::unexpected(plain_error("'" + *chosen_by + "' runs in the " + *options.image +
                                               " image, which is not stored and has no recipe to build it from",
                                           *options.image, "cage pull or cage import it, or name an image: cage run IMAGE ..."));
    }
    std::fprintf(stderr, "cage: the %s image is not built yet: building it from its recipe (once, a few minutes)\n",
                 options.image->c_str());
    CAGE_TRY(build_into_store(*builder, BuildRequest{*options.image, {}, false}));
    return {};
}

}  // namespace cage::cli
