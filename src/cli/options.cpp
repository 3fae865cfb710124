#include "cli/options.hpp"

#include <charconv>
#include <limits>
#include <tuple>

namespace cage::cli {
namespace {

Expected<std::uint32_t> parse_id(std::string_view text, const char* what)
{
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
        value == std::numeric_limits<std::uint32_t>::max())
        return std::unexpected(usage_error(std::string("invalid ") + what, std::string(text)));
    return value;
}

// Options that take a value: "--name VALUE" or "--name=VALUE".
struct ValueOption {
    std::string_view long_name;
    std::string_view short_name;
};

}  // namespace

const char* const run_usage =
    "Usage: cage run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]\n"
    "\n"
    "Run COMMAND in a new container: every namespace new, an overlay root over DIR (never\n"
    "modified), all capabilities dropped, no_new_privs, the current directory mounted at /work.\n"
    "\n"
    "Options:\n"
    "  --rootfs DIR           root filesystem (lower layer of the overlay root)\n"
    "  -w, --workspace DIR    directory mounted read-write at the workdir (default: .)\n"
    "      --workdir PATH     where the workspace is mounted and the command starts (default: /work)\n"
    "  -v, --volume SRC:DST[:ro]  bind-mount a host path (repeatable)\n"
    "  -u, --user UID[:GID]   user inside the container (default: 1000:1000)\n"
    "  -e, --env KEY[=VALUE]  set a variable; KEY alone copies it from the host (repeatable)\n"
    "      --hostname NAME    hostname inside (default: the sandbox name)\n"
    "      --name NAME        sandbox name (default: cage-XXXXXX)\n"
    "      --network MODE     none (default: own namespace, loopback only) or host\n"
    "      --read-write       let the command write to the root (into the overlay's upper dir)\n"
    "      --keep             keep the upper dir after exit (under $XDG_DATA_HOME/cage/containers)\n"
    "      --timeout DURATION kill the container after DURATION (30s, 15m, 1h); exit 124\n"
    "      --seccomp PROFILE  default, strict, unconfined, or a profile file (cage YAML or\n"
    "                         Docker/OCI JSON; see cage-profile(5)); default: default\n"
    "      --ephemeral-home   no persistent home: /home/agent is the image's own\n"
    "  -T, --no-tty           never allocate a pseudo-terminal\n"
    "  -h, --help             show this help\n"
    "\n"
    "A pseudo-terminal is allocated when stdin and stdout are terminals. Only TERM, LANG, LC_*,\n"
    "TZ, COLORTERM and --env variables reach the command, plus PATH, HOME and USER.\n"
    "System calls the seccomp profile refuses are logged (see 'cage logs NAME') and counted in\n"
    "a one-line summary at exit.\n"
    "\n"
    "The command's agent profile (cage-profile(5): claude, python, node, ..., else base) has a\n"
    "persistent home, $XDG_DATA_HOME/cage/homes/PROFILE, mounted at /home/agent unless\n"
    "--ephemeral-home is given or the command runs as root (--user 0).\n"
    "\n"
    "Exit status: the command's own; 128+N if it was killed by signal N; 124 after --timeout;\n"
    "125 if cage itself failed; 126 if the command cannot be executed; 127 if it is not found.\n";

Error usage_error(std::string what, std::string detail)
{
    return Error{std::move(what), 0, std::move(detail), "see 'cage run --help'", exit_cage_error};
}

Expected<std::chrono::milliseconds> parse_duration(std::string_view text)
{
    std::uint64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "s")
        scale = 1000;
    else if (unit == "ms")
        scale = 1;
    else if (unit == "m")
        scale = 60'000;
    else if (unit == "h")
        scale = 3'600'000;
    constexpr std::uint64_t max_ms = 100ULL * 365 * 24 * 3'600'000;
    if (ec != std::errc{} || end == text.data() || scale == 0 || number == 0 || number > max_ms / scale)
        return std::unexpected(usage_error("invalid duration (use 30s, 15m, 1h or 250ms)", std::string(text)));
    return std::chrono::milliseconds(number * scale);
}

Expected<std::pair<std::uint32_t, std::uint32_t>> parse_user(std::string_view text)
{
    auto colon = text.find(':');
    auto uid = CAGE_TRY(parse_id(text.substr(0, colon), "user id"));
    if (colon == std::string_view::npos)
        return std::pair{uid, uid};
    auto gid = CAGE_TRY(parse_id(text.substr(colon + 1), "group id"));
    return std::pair{uid, gid};
}

Expected<Volume> parse_volume(std::string_view text)
{
    Volume volume;
    auto first = text.find(':');
    if (first == std::string_view::npos || first == 0)
        return std::unexpected(usage_error("invalid volume (use SRC:DST[:ro])", std::string(text)));
    volume.source = std::string(text.substr(0, first));
    auto rest = text.substr(first + 1);
    auto second = rest.find(':');
    volume.destination = std::string(rest.substr(0, second));
    if (second != std::string_view::npos) {
        auto mode = rest.substr(second + 1);
        if (mode == "ro")
            volume.read_only = true;
        else if (mode != "rw")
            return std::unexpected(usage_error("invalid volume mode (use ro or rw)", std::string(text)));
    }
    if (volume.destination.empty() || volume.destination.front() != '/')
        return std::unexpected(usage_error("a volume destination must be an absolute path", std::string(text)));
    return volume;
}

Expected<RunOptions> parse_run_options(std::span<const std::string> args)
{
    RunOptions options;
    std::size_t i = 0;
    auto value_of = [&](std::string_view arg, std::string_view name, std::string& out) -> Expected<bool> {
        if (arg == name) {
            if (i + 1 >= args.size())
                return std::unexpected(usage_error("option needs a value", std::string(name)));
            out = args[++i];
            return true;
        }
        if (name.starts_with("--") && arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
            out = std::string(arg.substr(name.size() + 1));
            return true;
        }
        return false;
    };
    for (; i < args.size(); ++i) {
        std::string_view arg = args[i];
        std::string value;
        if (arg == "--") {
            ++i;
            break;
        }
        if (arg.empty() || arg.front() != '-')
            break;
        if (arg == "-h" || arg == "--help") {
            options.help = true;
        } else if (arg == "--read-write") {
            options.read_write = true;
        } else if (arg == "--keep") {
            options.keep = true;
        } else if (arg == "--ephemeral-home") {
            options.ephemeral_home = true;
        } else if (arg == "-T" || arg == "--no-tty") {
            options.tty = TtyMode::never;
        } else if (CAGE_TRY(value_of(arg, "--rootfs", value))) {
            options.rootfs = value;
        } else if (CAGE_TRY(value_of(arg, "--workspace", value)) || CAGE_TRY(value_of(arg, "-w", value))) {
            options.workspace = value;
        } else if (CAGE_TRY(value_of(arg, "--workdir", value))) {
            if (value.empty() || value.front() != '/')
                return std::unexpected(usage_error("--workdir must be an absolute path", value));
            options.workdir = value;
        } else if (CAGE_TRY(value_of(arg, "--volume", value)) || CAGE_TRY(value_of(arg, "-v", value))) {
            options.volumes.push_back(CAGE_TRY(parse_volume(value)));
        } else if (CAGE_TRY(value_of(arg, "--user", value)) || CAGE_TRY(value_of(arg, "-u", value))) {
            std::tie(options.uid, options.gid) = CAGE_TRY(parse_user(value));
        } else if (CAGE_TRY(value_of(arg, "--env", value)) || CAGE_TRY(value_of(arg, "-e", value))) {
            if (value.empty() || value.front() == '=')
                return std::unexpected(usage_error("invalid --env (use KEY=VALUE or KEY)", value));
            options.env.push_back(value);
        } else if (CAGE_TRY(value_of(arg, "--hostname", value))) {
            options.hostname = value;
        } else if (CAGE_TRY(value_of(arg, "--name", value))) {
            options.name = value;
        } else if (CAGE_TRY(value_of(arg, "--network", value))) {
            if (value != "none" && value != "host")
                return std::unexpected(usage_error("invalid --network (use none or host)", value));
            options.host_network = value == "host";
        } else if (CAGE_TRY(value_of(arg, "--seccomp", value))) {
            if (value.empty())
                return std::unexpected(usage_error("invalid --seccomp (use default, strict, unconfined or a file)"));
            options.seccomp = value;
        } else if (CAGE_TRY(value_of(arg, "--timeout", value))) {
            options.timeout = CAGE_TRY(parse_duration(value));
        } else {
            return std::unexpected(usage_error("unknown option", std::string(arg)));
        }
    }
    options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())), args.end());
    if (options.help)
        return options;
    if (options.rootfs.empty())
        return std::unexpected(usage_error("no root filesystem given: use --rootfs DIR"));
    if (options.command.empty())
        return std::unexpected(usage_error("no command given"));
    return options;
}

}  // namespace cage::cli
