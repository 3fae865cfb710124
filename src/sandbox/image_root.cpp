#include "sandbox/image_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <charconv>
#include <limits>
#include <set>

#include "image/fsutil.hpp"
#include "image/store.hpp"
#include "runtime/safe_path.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::sandbox {
namespace {

std::optional<std::uint32_t> number(std::string_view text)
{
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
        value == std::numeric_limits<std::uint32_t>::max())
        return std::nullopt;
    return value;
}

// The line of a passwd/group text whose first field is `name`.
std::optional<std::string> entry_named(std::string_view text, std::string_view name)
{
    while (!text.empty()) {
        auto line = text.substr(0, text.find('\n'));
        text.remove_prefix(std::min(text.size(), line.size() + 1));
        if (passwd_field(line, 0) == name)
            return std::string(line);
    }
    return std::nullopt;
}

std::optional<std::uint32_t> gid_of_uid(std::string_view passwd, std::uint32_t uid)
{
    auto uid_text = std::to_string(uid);
    while (!passwd.empty()) {
        auto line = passwd.substr(0, passwd.find('\n'));
        passwd.remove_prefix(std::min(passwd.size(), line.size() + 1));
        if (passwd_field(line, 2) == uid_text)
            return number(passwd_field(line, 3));
    }
    return std::nullopt;
}

std::string read_from_layers(const std::vector<std::string>& lower_dirs, std::string_view path)
{
    auto layer = layer_with(lower_dirs, path);
    if (layer.empty())
        return {};
    UniqueFd root(::open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root)
        return {};
    auto content = image::read_bounded(root.get(), std::string(path), 1 << 20);
    return content ? *content : std::string();
}

}  // namespace

Expected<ImageRoot> open_image(std::string_view reference)
{
    auto store = CAGE_TRY(image::Store::open_default());
    auto [name, record] = CAGE_TRY(store.find(reference));
    ImageRoot root;
    root.reference = name;
    auto config_text = CAGE_TRY(store.read_blob(record.config, image::max_config_bytes));
    root.config = CAGE_TRY(image::parse_config(config_text));
    // A layer that appears twice is kept only where it is top-most: overlayfs refuses the
    // same directory twice, and the lower copy adds nothing the upper one does not show.
    std::set<std::string> seen;
    for (auto it = record.layers.rbegin(); it != record.layers.rend(); ++it) {
        if (!seen.insert(*it).second)
            continue;
        if (!store.has_layer(*it))
            return std::unexpected(plain_error("a layer of the image is missing from the store", store.layer_path(*it),
                                               "import or pull the image again"));
        root.lower_dirs.push_back(store.layer_path(*it));
    }
    if (root.lower_dirs.empty())
        return std::unexpected(plain_error("the image has no layers", name));
    return root;
}

std::string layer_with(const std::vector<std::string>& lower_dirs, std::string_view path)
{
    for (const auto& dir : lower_dirs) {
        UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (root && safe_path::open_in_root(root.get(), path, O_PATH | O_NOFOLLOW))
            return dir;
    }
    return {};
}

Expected<std::pair<std::uint32_t, std::uint32_t>> parse_image_user(std::string_view user, std::string_view passwd,
                                                                   std::string_view group)
{
    auto colon = user.find(':');
    auto user_part = user.substr(0, colon);
    std::optional<std::uint32_t> uid = number(user_part), gid;
    if (!uid) {
        auto line = entry_named(passwd, user_part);
        if (line) {
            uid = number(passwd_field(*line, 2));
            gid = number(passwd_field(*line, 3));
        }
        if (!uid)
            return std::unexpected(plain_error("the image's user is not in its /etc/passwd", std::string(user),
                                               "give --user UID[:GID]"));
    }
    if (colon != std::string_view::npos) {
        auto group_part = user.substr(colon + 1);
        gid = number(group_part);
        if (!gid) {
            if (auto line = entry_named(group, group_part))
                gid = number(passwd_field(*line, 2));
            if (!gid)
                return std::unexpected(plain_error("the image's group is not in its /etc/group", std::string(user),
                                                   "give --user UID[:GID]"));
        }
    }
    if (!gid)
        gid = gid_of_uid(passwd, *uid).value_or(*uid);
    return std::pair{*uid, *gid};
}

std::vector<std::string> image_command(const image::ImageConfig& config, const std::vector<std::string>& command,
                                       const std::optional<std::vector<std::string>>& entrypoint)
{
    std::vector<std::string> args = entrypoint.value_or(config.entrypoint);
    const auto& rest = command.empty() ? config.cmd : command;
    args.insert(args.end(), rest.begin(), rest.end());
    return args;
}

std::vector<std::string> image_environment(const image::ImageConfig& config)
{
    std::vector<std::string> env;
    for (const auto& entry : config.env)
        if (auto equals = entry.find('='); equals != std::string::npos && equals > 0)
            env.push_back(entry);
    return env;
}

Expected<std::pair<std::uint32_t, std::uint32_t>> image_user(const std::vector<std::string>& lower_dirs,
                                                             std::string_view user)
{
    return parse_image_user(user, read_from_layers(lower_dirs, "etc/passwd"), read_from_layers(lower_dirs, "etc/group"));
}

}  // namespace cage::sandbox
