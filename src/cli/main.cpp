// cage: the command line. Parsing and dispatch only; the work is in libcage.
#include <cage/cage.hpp>

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "runtime/sys.hpp"

namespace {

constexpr const char* usage =
    "Usage: cage COMMAND [OPTIONS]\n"
    "\n"
    "Run commands and coding agents in a rootless, deny-by-default Linux sandbox.\n"
    "\n"
    "Commands:\n"
    "  run        run a command in a new container (see 'cage run --help')\n"
    "  logs NAME  show the system calls a sandbox's seccomp profile refused\n"
    "  images     list stored images\n"
    "  pull       download an image from a registry\n"
    "  import     store images from an OCI layout or a docker archive\n"
    "  rmi        remove image references\n"
    "  prune      remove layers and blobs no image uses\n"
    "  login      store credentials for a registry\n"
    "  logout     remove the credentials of a registry\n"
    "  build RECIPE  build an agent image from a recipe (see 'cage build --help')\n"
    "  version    print the version\n"
    "  help       show this help\n";

struct Command {
    std::string_view name;
    int (*handler)(std::span<const std::string>);  // nullptr: cage-image runs it
    bool seals_executable;  // starts containers: run from a sealed copy (CVE-2019-5736)
};

int cmd_version(std::span<const std::string>)
{
    std::printf("cage %s\n", CAGE_VERSION);
    return 0;
}

int cmd_help(std::span<const std::string>)
{
    std::fputs(usage, stdout);
    return 0;
}

constexpr Command commands[] = {
    {"run", cage::cli::cmd_run, true},
    {"logs", cage::cli::cmd_logs, false},
    {"images", cage::cli::cmd_images, false},
    {"import", nullptr, false},
    {"rmi", cage::cli::cmd_rmi, false},
    {"pull", nullptr, false},
    {"login", nullptr, false},
    {"logout", nullptr, false},
    {"prune", cage::cli::cmd_prune, false},
    {"build", cage::cli::cmd_build, false},
    {"version", cmd_version, false},
    {"--version", cmd_version, false},
    {"help", cmd_help, false},
    {"--help", cmd_help, false},
    {"-h", cmd_help, false},
};

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fputs(usage, stderr);
        return cage::exit_cage_error;
    }
    std::string_view verb = argv[1];
    for (const auto& command : commands) {
        if (command.name != verb)
            continue;
        if (!command.handler)
            return cage::cli::run_image_helper(argc, argv);
        if (command.seals_executable) {
            // As root, no container id is host root unless a bind cannot be idmapped: run
            // seals only then (before_host_root, cmd_run).
            if (::getuid() != 0)
                if (auto sealed = cage::seal_executable(argc, argv); !sealed) {
                    std::fprintf(stderr, "cage: %s\n", sealed.error().message().c_str());
                    return sealed.error().exit_code;
                }
            // Nothing cage inherited may reach a container.
            cage::sys::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        }
        ::signal(SIGPIPE, SIG_IGN);
        std::vector<std::string> args(argv + 2, argv + argc);
        return command.handler(args);
    }
    std::fprintf(stderr, "cage: unknown command: %s; see 'cage --help'\n", argv[1]);
    return cage::exit_cage_error;
}
