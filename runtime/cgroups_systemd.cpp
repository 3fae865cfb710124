// The systemd driver, without libsystemd: a rootless cage whose cgroup is not delegated
// asks the user's systemd for a delegated scope by re-executing itself under
//   systemd-run --user --scope -p Delegate=yes --unit=cage-PID -- cage run ...
// The scope holds only cage, so the fs driver then takes the "split" placement.
#include "runtime/cgroups.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/util.hpp"

namespace cage::cgroups {
namespace {

bool exists(const std::string& path)
{
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

bool systemd_user_reachable()
{
    const char* runtime_dir = std::getenv("XDG_RUNTIME_DIR");
    if (!runtime_dir || runtime_dir[0] != '/')
        return false;
    std::string dir = runtime_dir;
    return (exists(dir + "/systemd/private") || exists(dir + "/bus")) && !find_in_path("systemd-run").empty();
}

std::vector<std::string> scope_command(const std::string& systemd_run, const std::string& exe,
                                       std::span<const std::string> args, pid_t pid)
{
    std::vector<std::string> command{systemd_run, "--user", "--scope", "--quiet", "--collect",
                                     "--property=Delegate=yes", "--unit=cage-" + std::to_string(pid), "--", exe};
    command.insert(command.end(), args.begin(), args.end());
    return command;
}

Expected<void> maybe_reexec_in_scope(const runtime::Limits& limits, const std::string& exe,
                                     std::span<const std::string> args)
{
    if (wanted_controllers(limits).empty() || std::getenv(scope_env))
        return {};
    if (choose(gather_facts()).driver != Driver::systemd)
        return {};
    auto command = scope_command(find_in_path("systemd-run"), exe, args, ::getpid());
    std::vector<char*> argv;
    for (auto& word : command)
        argv.push_back(word.data());
    argv.push_back(nullptr);
    ::setenv(scope_env, "1", 1);
    ::execv(argv[0], argv.data());
    auto error = errno_error("re-execute cage in a systemd scope", command.front());
    ::unsetenv(scope_env);
    return std::unexpected(error);
}

}  // namespace cage::cgroups
