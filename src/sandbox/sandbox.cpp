#include "sandbox/sandbox.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

#include "runtime/fd.hpp"
#include "sandbox/image_root.hpp"
#include "runtime/safe_path.hpp"
#include "runtime/util.hpp"
#include "sandbox/home.hpp"
#include "sandbox/warn_once.hpp"
#include "seccomp/profile.hpp"

namespace cage::sandbox {
namespace {

constexpr std::array<std::string_view, 5> pass_through{"TERM", "LANG", "TZ", "COLORTERM", "LC_ALL"};
constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string_view key_of(std::string_view entry)
{
    return entry.substr(0, entry.find('='));
}

const std::string* find_host(const std::vector<std::string>& host, std::string_view key)
{
    for (const auto& entry : host)
        if (key_of(entry) == key && entry.size() > key.size())
            return &entry;
    return nullptr;
}

Expected<std::string> real_directory(const std::string& path, const char* role)
{
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved)) {
        auto error = errno_error(std::string("cannot use the ") + role, path);
        if (errno == ENOENT)
            error.hint = std::string("create it, or pick another ") + role;
        return std::unexpected(error);
    }
    return std::string(resolved);
}

Expected<std::string> existing_directory(const std::string& path, const char* role)
{
    auto resolved = CAGE_TRY(real_directory(path, role));
    struct stat st{};
    if (::stat(resolved.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return std::unexpected(errno_error(std::string("cannot use the ") + role, path));
    }
    return resolved;
}

}  // namespace

std::string passwd_field(std::string_view line, int index)
{
    for (int i = 0; i < index; ++i) {
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return {};
        line.remove_prefix(colon + 1);
    }
    return std::string(line.substr(0, line.find(':')));
}

bool passes_through(std::string_view name)
{
    if (name.starts_with("LC_"))
        return true;
    for (auto allowed : pass_through)
        if (name == allowed)
            return true;
    return false;
}

std::vector<std::string> build_environment(const std::vector<std::string>& host,
                                           const std::vector<std::string>& requested,
                                           const std::string& user, const std::string& home)
{
    std::map<std::string, std::string, std::less<>> env{
        {"PATH", default_path}, {"HOME", home}, {"USER", user}};
    for (const auto& entry : host) {
        auto key = key_of(entry);
        if (passes_through(key) && entry.size() > key.size())
            env[std::string(key)] = entry.substr(key.size() + 1);
    }
    for (const auto& entry : requested) {
        auto key = key_of(entry);
        if (key.size() < entry.size())
            env[std::string(key)] = entry.substr(key.size() + 1);
        else if (auto* from_host = find_host(host, key))
            env[std::string(key)] = from_host->substr(key.size() + 1);
    }
    std::vector<std::string> result;
    for (const auto& [key, value] : env)
        result.push_back(key + "=" + value);
    return result;
}

std::string user_directory(const char* xdg_variable, const char* under_home)
{
    if (const char* xdg = std::getenv(xdg_variable); xdg && xdg[0] == '/')
        return std::string(xdg) + "/cage";
    std::string home;
    if (const char* variable = std::getenv("HOME"); variable && variable[0] == '/')
        home = variable;
    else if (const passwd* account = ::getpwuid(::getuid()); account && account->pw_dir && account->pw_dir[0] == '/')
        home = account->pw_dir;
    else  // never a shared directory such as /tmp: another user could plant files there
        return "/nonexistent/cage";
    return home + "/" + under_home + "/cage";
}

std::string data_dir()
{
    if (::getuid() == 0)
        return "/var/lib/cage";
    return user_directory("XDG_DATA_HOME", ".local/share");
}

std::string cache_dir()
{
    if (::getuid() == 0)
        return "/var/cache/cage";
    return user_directory("XDG_CACHE_HOME", ".cache");
}

Expected<seccomp::Filter> seccomp_filter(const std::string& profile)
{
    if (profile == "unconfined")
        return seccomp::Filter{};
    auto text = CAGE_TRY(profile::find_seccomp_profile(profile));
    return profile::compiled_filter(text, cache_dir());
}

std::string slirp4netns_unusable()
{
    if (find_in_path("slirp4netns").empty())
        return "slirp4netns is not installed (apt-get install slirp4netns)";
    // slirp4netns opens it with the caller's own ids: for an unprivileged user, udev's 0666.
    if (::access("/dev/net/tun", R_OK | W_OK) < 0)
        return std::string("/dev/net/tun is not readable and writable by you (") + std::strerror(errno) + ")";
    return {};
}

runtime::Network chosen_network(const RunOptions& options)
{
    if (options.network)
        return *options.network;
    if (options.profile_network != runtime::Network::slirp4netns)
        return runtime::Network::none;
    auto why = slirp4netns_unusable();
    if (why.empty())
        return runtime::Network::slirp4netns;
    std::fprintf(stderr, "cage: warning: running the agent without a network: %s; --network host shares the "
                         "host's, --network none says this is wanted\n", why.c_str());
    return runtime::Network::none;
}

Account lookup_account(const std::string& rootfs, std::uint32_t uid)
{
    Account fallback{uid == 0 ? "root" : "agent", uid == 0 ? "/root" : "/home/agent"};
    UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root)
        return fallback;
    // The rootfs is untrusted: a FIFO or a device there must not block or feed cage.
    auto passwd = safe_path::open_in_root(root.get(), "/etc/passwd", O_RDONLY | O_NONBLOCK);
    struct stat st{};
    if (!passwd || ::fstat(passwd->get(), &st) < 0 || !S_ISREG(st.st_mode))
        return fallback;
    auto content = read_small_file(passwd->get());
    if (!content)
        return fallback;
    std::string_view rest = *content;
    auto uid_text = std::to_string(uid);
    while (!rest.empty()) {
        auto line = rest.substr(0, rest.find('\n'));
        rest.remove_prefix(std::min(rest.size(), line.size() + 1));
        if (passwd_field(line, 2) == uid_text) {
            auto name = passwd_field(line, 0);
            auto home = passwd_field(line, 5);
            if (!name.empty() && home.starts_with("/"))
                return {name, home};
        }
    }
    return fallback;
}

Expected<runtime::Spec> make_spec(const RunOptions& options, const std::vector<std::string>& host_env)
{
    runtime::Spec spec;
    auto name = options.name.value_or(random_name());
    if (!valid_name(name))
        return std::unexpected(plain_error("invalid sandbox name (letters, digits, '-' and '.', at most 63)", name));
    spec.hostname = options.hostname.value_or(name);
    if (!valid_name(spec.hostname))
        return std::unexpected(plain_error("invalid hostname (letters, digits, '-' and '.', at most 63)", spec.hostname));

    std::optional<ImageRoot> image;
    std::string account_root;
    if (options.image) {
        image = CAGE_TRY(open_image(*options.image));
        spec.lower_dirs = image->lower_dirs;
        account_root = layer_with(spec.lower_dirs, "etc/passwd");
    } else {
        account_root = CAGE_TRY(existing_directory(options.rootfs, "root filesystem"));
        spec.lower_dirs = {account_root};
    }
    std::string workspace = options.workspace.value_or(".");
    spec.binds.push_back({CAGE_TRY(existing_directory(workspace, "workspace")), options.workdir, false});
    for (const auto& volume : options.volumes)
        spec.binds.push_back({CAGE_TRY(real_directory(volume.source, "volume source")), volume.destination,
                              volume.read_only});
    if (!options.ephemeral_home && !options.profile.empty() && options.uid != 0)
        spec.binds.push_back({CAGE_TRY(ensure_home(options.profile)), agent_home, false});
    spec.cwd = options.workdir;
    if (image && !options.workdir_given && !image->config.working_dir.empty())
        spec.cwd = image->config.working_dir;

    spec.uid = options.uid;
    spec.gid = options.gid;
    if (image && !options.user_given && !image->config.user.empty())
        std::tie(spec.uid, spec.gid) = CAGE_TRY(image_user(spec.lower_dirs, image->config.user));
    auto account = lookup_account(account_root, spec.uid);
    auto requested = image ? image_environment(image->config) : std::vector<std::string>{};
    requested.insert(requested.end(), options.profile_env.begin(), options.profile_env.end());
    requested.insert(requested.end(), options.env.begin(), options.env.end());
    spec.env = build_environment(host_env, requested, account.name, account.home);
    spec.args = image_command(image ? image->config : image::ImageConfig{}, options.command, options.entrypoint);
    if (spec.args.empty())
        return std::unexpected(plain_error("the image has no command (no Entrypoint or Cmd)", image ? image->reference : options.rootfs,
                                           "give one: cage run IMAGE COMMAND"));
    spec.read_only_root = !options.read_write;
    if (options.keep)
        spec.upper_dir = data_dir() + "/containers/" + name + "/upper";
    spec.network = chosen_network(options);
    spec.terminal = options.tty == TtyMode::automatic && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    spec.timeout = options.timeout;
    spec.seccomp = CAGE_TRY(seccomp_filter(options.seccomp));
    spec.limits = options.limits;
    const auto& asked = options.limits;
    bool asked_for_limits = asked.require_memory || asked.require_pids || asked.require_cpus || asked.require_io_weight;
    if (options.best_effort_limits)
        spec.limits.require_memory = spec.limits.require_pids = spec.limits.require_cpus =
            spec.limits.require_io_weight = false;
    spec.warn_limits = limits_warning(options.best_effort_limits && asked_for_limits);
    return spec;
}

}  // namespace cage::sandbox
