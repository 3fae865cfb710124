#include "sandbox/home.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "sandbox/sandbox.hpp"

namespace cage::sandbox {

std::string home_directory(const std::string& profile)
{
    return data_dir() + "/homes/" + profile;
}

Expected<std::string> ensure_home(const std::string& profile)
{
    if (!valid_name(profile))
        return std::unexpected(plain_error("invalid profile name for a home directory", profile));
    auto path = home_directory(profile);
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
    if (error)
        errno = error.value();
    if (error || (::mkdir(path.c_str(), 0700) < 0 && errno != EEXIST)) {
        auto failure = errno_error("cannot create the agent home", path);
        failure.hint = "or run with --ephemeral-home";
        return std::unexpected(failure);
    }
    // Another user's directory, or a symlink planted in its place, is never mounted.
    struct stat st{};
    if (::lstat(path.c_str(), &st) < 0)
        return std::unexpected(errno_error("cannot use the agent home", path));
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid())
        return std::unexpected(plain_error("the agent home is not a directory of ours", path,
                                           "remove it, or run with --ephemeral-home"));
    return path;
}

}  // namespace cage::sandbox
