// cage-image: the image verbs that download and unpack (pull, import, login, logout). cage
// runs it for them (see image_helper.cpp); it is not meant to be called directly.
#include <signal.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <cage/error.hpp>

#include "cli/commands.hpp"

namespace {

struct Command {
    std::string_view name;
    int (*handler)(std::span<const std::string>);
};

constexpr Command commands[] = {
    {"pull", cage::cli::cmd_pull},
    {"import", cage::cli::cmd_import},
    {"login", cage::cli::cmd_login},
    {"logout", cage::cli::cmd_logout},
};

}  // namespace

int main(int argc, char** argv)
{
    std::string_view verb = argc > 1 ? argv[1] : "";
    for (const auto& command : commands) {
        if (command.name != verb)
            continue;
        ::signal(SIGPIPE, SIG_IGN);
        std::vector<std::string> args(argv + 2, argv + argc);
        return command.handler(args);
    }
    std::fprintf(stderr, "cage-image: unknown command '%.*s'; use cage pull, import, login or logout\n",
                 static_cast<int>(verb.size()), verb.data());
    return cage::exit_cage_error;
}
