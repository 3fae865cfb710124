// The user's configuration file, over the agent profiles compiled into cage.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "config/profiles.hpp"
#include "runtime/fd.hpp"
#include "runtime/util.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::config {

std::string user_config_file()
{
    return sandbox::user_directory("XDG_CONFIG_HOME", ".config") + "/config.yaml";
}

Expected<Profiles> load_profiles(const std::string& config_file)
{
    std::map<std::string, std::string, std::less<>> images;
    UniqueFd fd(::open(config_file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd && errno != ENOENT && errno != ENOTDIR)
        return std::unexpected(errno_error("cannot read the configuration", config_file));
    struct stat st{};
    if (fd && (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)))
        return std::unexpected(plain_error("the configuration is not a regular file", config_file));
    if (fd) {
        auto text = read_small_file(fd.get());
        if (!text)
            return std::unexpected(errno_error("cannot read the configuration", config_file));
        images = CAGE_TRY(parse_image_overrides(*text, config_file));
    }
    return make_profiles(builtin_agents(), std::move(images));
}

}  // namespace cage::config
