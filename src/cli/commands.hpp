// One function per subcommand; main.cpp dispatches to them.
#pragma once

#include <span>
#include <string>

namespace cage::cli {

int cmd_run(std::span<const std::string> args);
int cmd_logs(std::span<const std::string> args);
int cmd_build(std::span<const std::string> args);

}  // namespace cage::cli
