#include <cage/cage.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/run_target.hpp"
#include "config/profiles.hpp"
#include "sandbox/audit.hpp"
#include "runtime/cgroups.hpp"
#include "runtime/util.hpp"
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

// Set by before_host_root for the copy of cage it re-executes: exec keeps the pid, so the
// value tells that copy from a process that merely inherited the variable.
constexpr const char* host_root_variable = "CAGE_HOST_ROOT_MAPS";

bool reexecuted_for_host_root()
{
    const char* value = std::getenv(host_root_variable);
    bool ours = value && std::to_string(::getpid()) == value;
    ::unsetenv(host_root_variable);
    return ours;
}

// Re-executes cage through a read-only bind of itself (CVE-2019-5736), telling the copy that
// the container's user is to be host root (see Spec::host_root_maps).
Expected<void> seal_for_host_root(std::vector<std::string>& argv)
{
    std::vector<char*> pointers;
    for (auto& arg : argv)
        pointers.push_back(arg.data());
    pointers.push_back(nullptr);
    ::setenv(host_root_variable, std::to_string(::getpid()).c_str(), 1);
    auto sealed = seal_executable(static_cast<int>(argv.size()), pointers.data());
    ::unsetenv(host_root_variable);  // returned: no re-exec was needed, or it failed
    return sealed;
}

// This cage's command line (argv[0] first) and a path systemd-run can execute it by.
std::pair<std::string, std::vector<std::string>> own_command_line()
{
    auto cmdline = read_small_file("/proc/self/cmdline").value_or("");
    std::vector<std::string> argv;
    for (std::size_t start = 0; start < cmdline.size();) {
        auto end = cmdline.find('\0', start);
        argv.push_back(cmdline.substr(start, end - start));
        start = end == std::string::npos ? cmdline.size() : end + 1;
    }
    if (auto exe = path_of_this_binary(); !exe.empty())
        return {exe, argv};
    std::string name = argv.empty() ? "cage" : argv.front();
    return {name.find('/') != std::string::npos ? name : find_in_path(name), argv};
}

void report_memory(const runtime::Spec& spec, const runtime::Result& result)
{
    std::string limit = spec.limits.memory ? describe_size(*spec.limits.memory) : "none";
    std::string peak = result.memory_peak ? describe_amount(*result.memory_peak) : "unknown";
    std::fprintf(stderr, "cage: killed: out of memory (limit %s, peak %s)\n", limit.c_str(), peak.c_str());
}

}  // namespace

int cmd_run(std::span<const std::string> args)
{
    bool host_root_maps = reexecuted_for_host_root();
    auto options = parse_run_options(args);
    if (!options)
        return report_failure(options.error());
    if (options->help) {
        std::fputs(run_usage, stdout);
        return 0;
    }
    if (!options->name)
        options->name = sandbox::random_name();
    auto profiles = config::load_profiles(config::user_config_file());
    if (!profiles)
        return report_failure(profiles.error());
    auto target = choose_target(*options, *profiles);
    if (auto built = build_missing_image(*options, target); !built)
        return report_failure(built.error());
    auto spec = sandbox::make_spec(*options, host_environment());
    if (!spec)
        return report_failure(spec.error());
    sandbox::AuditLog audit(*options->name);
    spec->on_denial = [&audit](const seccomp::Denial& denial) { audit.record(denial); };
    auto [exe, argv] = own_command_line();
    spec->before_host_root = [&argv]() { return seal_for_host_root(argv); };
    spec->host_root_maps = host_root_maps;
    if (auto scoped = cgroups::maybe_reexec_in_scope(spec->limits, exe, std::span(argv).subspan(std::min<std::size_t>(1, argv.size()))); !scoped)
        return report_failure(scoped.error());
    auto result = runtime::run(*spec);
    if (!result)
        return report_failure(result.error());
    if (auto summary = sandbox::refusal_summary(result->refused, *options->name); !summary.empty())
        std::fprintf(stderr, "cage: %s\n", summary.c_str());
    if (result->oom_kills > 0)
        report_memory(*spec, *result);
    if (result->timed_out)
        std::fprintf(stderr, "cage: timed out after %s: the container was killed\n",
                     describe(spec->timeout).c_str());
    if (!spec->upper_dir.empty())
        std::fprintf(stderr, "cage: kept the container's changes in %s\n", spec->upper_dir.c_str());
    return result->exit_code;
}

}  // namespace cage::cli
