// One function per subcommand; main.cpp dispatches to them.
#pragma once

#include <span>
#include <string>

namespace cage::cli {

int cmd_run(std::span<const std::string> args);
int cmd_logs(std::span<const std::string> args);
int cmd_images(std::span<const std::string> args);
int cmd_rmi(std::span<const std::string> args);
int cmd_prune(std::span<const std::string> args);
int cmd_import(std::span<const std::string> args);
int cmd_pull(std::span<const std::string> args);
int cmd_login(std::span<const std::string> args);
int cmd_logout(std::span<const std::string> args);

// Runs cage-image with cage's own arguments (pull, import, login, logout); returns only on
// failure.
int run_image_helper(int argc, char** argv);
int cmd_build(std::span<const std::string> args);

}  // namespace cage::cli
