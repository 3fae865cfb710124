#include <cage/cage.hpp>

#include <unistd.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "config/profiles.hpp"
#include "sandbox/audit.hpp"
#include "sandbox/sandbox.hpp"

extern char** environ;

namespace cage::cli {
namespace {

std::vector<std::string> host_environment()
{
    std::vector<std::string> env;
    for (char** entry = environ; *entry; ++entry)
        env.emplace_back(*entry);
    return env;
}

std::string describe(std::chrono::milliseconds duration)
{
    auto ms = duration.count();
    if (ms % 3'600'000 == 0)
        return std::to_string(ms / 3'600'000) + "h";
    if (ms % 60'000 == 0)
        return std::to_string(ms / 60'000) + "m";
    if (ms % 1000 == 0)
        return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

int fail(const Error& error)
{
    std::fprintf(stderr, "cage: %s\n", error.message().c_str());
    return error.exit_code;
}

}  // namespace

int cmd_run(std::span<const std::string> args)
{
    auto options = parse_run_options(args);
    if (!options)
        return fail(options.error());
    if (options->help) {
        std::fputs(run_usage, stdout);
        return 0;
    }
    if (!options->name)
        options->name = sandbox::random_name();
    if (!options->ephemeral_home) {
        auto profiles = config::load_profiles(config::user_config_file());
        if (!profiles)
            return fail(profiles.error());
        options->profile = config::choose(*profiles, options->command.front()).profile;
    }
    auto spec = sandbox::make_spec(*options, host_environment());
    if (!spec)
        return fail(spec.error());
    sandbox::AuditLog audit(*options->name);
    spec->on_denial = [&audit](const seccomp::Denial& denial) { audit.record(denial); };
    auto result = runtime::run(*spec);
    if (!result)
        return fail(result.error());
    if (auto summary = sandbox::refusal_summary(result->refused, *options->name); !summary.empty())
        std::fprintf(stderr, "cage: %s\n", summary.c_str());
    if (result->timed_out)
        std::fprintf(stderr, "cage: timed out after %s: the container was killed\n",
                     describe(spec->timeout).c_str());
    if (!spec->upper_dir.empty())
        std::fprintf(stderr, "cage: kept the container's changes in %s\n", spec->upper_dir.c_str());
    return result->exit_code;
}

}  // namespace cage::cli
