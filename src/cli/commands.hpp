// One function per subcommand; main.cpp dispatches to them.
#pragma once

#include <cage/error.hpp>

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

// Prints "cage: MESSAGE" on stderr and returns the error's exit status. An error with no
// message was reported already (by a helper program) and is not printed again.
int report_failure(const Error& error);

// The directory of the cage executable that was started (also after sealing).
std::string directory_of_this_binary();
// The file cage was started from (before any re-execution from a sealed copy), or "".
std::string path_of_this_binary();
// Where cage-image is: beside cage, else where meson installs it.
std::string image_helper_path();
// Runs cage-image with cage's own arguments (pull, import, login, logout); returns only on
// failure.
int run_image_helper(int argc, char** argv);
int cmd_build(std::span<const std::string> args);

}  // namespace cage::cli
