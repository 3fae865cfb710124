// Small helpers shared by the runtime.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cage {

// The whole content of a small file (a /proc or /etc file), or nullopt when unreadable or
// larger than 1 MiB.
std::optional<std::string> read_small_file(const std::string& path);
// The same for an open descriptor.
std::optional<std::string> read_small_file(int fd);

// Where a program is looked for along a PATH-style list, in order (an empty entry is ".").
std::vector<std::string> path_candidates(std::string_view search_path, const std::string& program);

// The first executable named `program` in $PATH (default /usr/bin:/bin), or "".
std::string find_in_path(const std::string& program);

// mkdir -p on the host: every missing component of an absolute path, with mode.
bool make_host_directories(const std::string& path, unsigned mode);

// Whether the running kernel is at least WANTED ("MAJOR.MINOR").
bool kernel_at_least(const std::string& wanted);

}  // namespace cage
