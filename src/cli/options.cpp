#include "cli/options.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
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

// "max" (unlimited) or what parse gives.
template <class T, class Parse>
Expected<std::optional<T>> limit_or_max(std::string_view text, Parse parse)
{
    if (text == "max")
        return std::optional<T>{};
    return std::optional<T>(CAGE_TRY(parse(text)));
}

Expected<std::uint64_t> parse_count(std::string_view text, std::uint64_t low, std::uint64_t high, const char* what)
{
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < low || value > high)
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
    "Usage: cage run [OPTIONS] COMMAND [ARG...]\n"
    "       cage run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
    "       cage run [OPTIONS] --image REF|--rootfs DIR [--] COMMAND [ARG...]\n"
    "\n"
    "Run COMMAND in a new container: every namespace new, the image's layers or DIR as a\n"
    "read-only root (never modified), all capabilities dropped, no_new_privs, a seccomp\n"
    "filter, the current directory mounted at /work. A first word that is a stored image or\n"
    "reads like a reference (has '/', ':' or '@') is an IMAGE; any other word is a COMMAND,\n"
    "run in the image of its agent profile (claude, gemini, codex, opencode, kilo, python3,\n"
    "node, go, ...; else base; see cage-build(1)), which is built first when missing. An\n"
    "image's Entrypoint, Cmd, Env, WorkingDir and User apply unless COMMAND, --entrypoint,\n"
    "--env, --workdir or --user say otherwise (COMMAND replaces Cmd).\n"
    "\n"
    "Options:\n"
    "      --image REF        a stored image (see 'cage images', 'cage pull', 'cage import')\n"
    "      --rootfs DIR       root filesystem directory (instead of an image)\n"
    "      --entrypoint PROG  replace the image's Entrypoint ('' for none)\n"
    "  -w, --workspace DIR    directory mounted read-write at the workdir (default: .)\n"
    "      --workdir PATH     where the workspace is mounted and the command starts (default: /work)\n"
    "  -v, --volume SRC:DST[:ro]  bind-mount a host path (repeatable)\n"
    "  -u, --user UID[:GID]   user inside the container (default: 1000:1000)\n"
    "  -e, --env KEY[=VALUE]  set a variable; KEY alone copies it from the host (repeatable)\n"
    "      --hostname NAME    hostname inside (default: the sandbox name)\n"
    "      --name NAME        sandbox name (default: cage-XXXXXX)\n"
    "      --network MODE     none (own namespace, loopback only), slirp4netns (outbound only,\n"
    "                         through slirp4netns; the host's loopback refused) or host;\n"
    "                         default: the agent profile's (slirp4netns for claude, gemini,\n"
    "                         codex, opencode and kilocode), else none\n"
    "      --read-write       let the command write to the root (into the overlay's upper dir)\n"
    "      --keep             keep the upper dir after exit (under $XDG_DATA_HOME/cage/containers)\n"
    "      --timeout DURATION kill the container after DURATION (30s, 15m, 1h); exit 124\n"
    "      --seccomp PROFILE  default, strict, unconfined, or a profile file (cage YAML or\n"
    "                         Docker/OCI JSON; see cage-profile(5)); default: default\n"
    "      --ephemeral-home   no persistent home: /home/agent is the image's own\n"
    "  -T, --no-tty           never allocate a pseudo-terminal\n"
    "      --memory SIZE      memory limit of the container (default: 4G; max: none)\n"
    "      --memory-swap SIZE swap it may use besides (default: 0)\n"
    "      --pids N           most processes and threads at once (default: 512; max: none)\n"
    "      --cpus N           CPU time, in CPUs, may be fractional: 0.5, 2 (default: unlimited)\n"
    "      --io-weight N      relative block I/O weight, 1-10000 (default: the kernel's, 100)\n"
    "      --best-effort-limits  run even when a limit given above cannot be enforced (warned\n"
    "                         at every run)\n"
    "  -h, --help             show this help\n"
    "\n"
    "A pseudo-terminal is allocated when stdin and stdout are terminals. Only TERM, LANG, LC_*,\n"
    "TZ, COLORTERM and --env variables reach the command, plus PATH, HOME and USER.\n"
    "System calls the seccomp profile refuses are logged (see 'cage logs NAME') and counted in\n"
    "a one-line summary at exit.\n"
    "\n"
    "Limits are enforced by a cgroup v2 of the container's own, removed at exit: as root under\n"
    "/sys/fs/cgroup; rootless inside the subtree systemd delegates to the user (run under\n"
    "'systemd-run --user --scope -p Delegate=yes', or a user@.service drop-in with\n"
    "'Delegate=cpu io memory pids'; see cage-run(1)). Without one, cage says so once per user\n"
    "(a marker in $XDG_STATE_HOME/cage), caps processes with RLIMIT_NPROC (root on a cgroup v1\n"
    "host: with a v1 pids cgroup), and refuses a limit given on the command line (exit 125)\n"
    "unless --best-effort-limits. Killed for memory: 'cage: killed: out of memory', exit 137.\n"
    "The command's agent profile (cage-build(1): claude, python, node, ..., else base) has a\n"
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

Expected<std::uint64_t> parse_size(std::string_view text)
{
    auto bad = [&] { return std::unexpected(usage_error("invalid size (use 512M, 4G, 1.5G or bytes)", std::string(text))); };
    std::size_t digits = text.find_first_not_of("0123456789.");
    auto number = text.substr(0, digits);
    auto unit = digits == std::string_view::npos ? std::string_view{} : text.substr(digits);
    if (number.empty() || number.front() == '.' || number.back() == '.' || number.find('.') != number.rfind('.'))
        return bad();
    static constexpr std::string_view units = "kmgt";
    std::uint64_t scale = 1;
    if (!unit.empty()) {
        auto index = units.find(static_cast<char>(unit.front() | 0x20));
        auto rest = unit.substr(1);
        if (index == std::string_view::npos || !(rest.empty() || rest == "B" || rest == "iB" || rest == "b"))
            return bad();
        scale = std::uint64_t{1} << (10 * (index + 1));
    }
    double value = 0;
    if (std::sscanf(std::string(number).c_str(), "%lf", &value) != 1)
        return bad();
    double bytes = std::floor(value * static_cast<double>(scale));
    if (!(bytes >= 1) || bytes >= 0x1p63)
        return bad();
    return static_cast<std::uint64_t>(bytes);
}

Expected<double> parse_cpus(std::string_view text)
{
    double value = 0;
    int used = 0;
    std::string copy(text);
    if (copy.empty() || copy.find_first_not_of("0123456789.") != std::string::npos ||
        std::sscanf(copy.c_str(), "%lf%n", &value, &used) != 1 || used != static_cast<int>(copy.size()) ||
        !(value > 0) || value > 4096)
        return std::unexpected(usage_error("invalid number of CPUs (use 0.5, 1, 2 ...)", copy));
    return value;
}

std::string describe_size(std::uint64_t bytes)
{
    static constexpr const char* names[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; ++i) {
        std::uint64_t unit = std::uint64_t{1} << (10 * (4 - i));
        if (bytes >= unit && bytes % unit == 0)
            return std::to_string(bytes / unit) + " " + names[i];
    }
    return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

std::string describe_amount(std::uint64_t bytes)
{
    static constexpr const char* names[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; ++i) {
        std::uint64_t unit = std::uint64_t{1} << (10 * (4 - i));
        if (bytes >= unit) {
            char text[32];
            std::snprintf(text, sizeof(text), "%.1f %s", static_cast<double>(bytes) / static_cast<double>(unit), names[i]);
            return text;
        }
    }
    return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
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
            if (value.empty())
                return std::unexpected(usage_error("--rootfs needs a directory"));
            options.rootfs = value;
        } else if (CAGE_TRY(value_of(arg, "--image", value))) {
            if (value.empty())
                return std::unexpected(usage_error("--image needs an image reference"));
            options.image = value;
        } else if (CAGE_TRY(value_of(arg, "--entrypoint", value))) {
            // As podman: one program, or "" for none (COMMAND is then the whole command line).
            options.entrypoint = value.empty() ? std::vector<std::string>{} : std::vector<std::string>{std::string(value)};
        } else if (CAGE_TRY(value_of(arg, "--workspace", value)) || CAGE_TRY(value_of(arg, "-w", value))) {
            options.workspace = value;
        } else if (CAGE_TRY(value_of(arg, "--workdir", value))) {
            if (value.empty() || value.front() != '/')
                return std::unexpected(usage_error("--workdir must be an absolute path", value));
            options.workdir = value;
            options.workdir_given = true;
        } else if (CAGE_TRY(value_of(arg, "--volume", value)) || CAGE_TRY(value_of(arg, "-v", value))) {
            options.volumes.push_back(CAGE_TRY(parse_volume(value)));
        } else if (CAGE_TRY(value_of(arg, "--user", value)) || CAGE_TRY(value_of(arg, "-u", value))) {
            std::tie(options.uid, options.gid) = CAGE_TRY(parse_user(value));
            options.user_given = true;
        } else if (CAGE_TRY(value_of(arg, "--env", value)) || CAGE_TRY(value_of(arg, "-e", value))) {
            if (value.empty() || value.front() == '=')
                return std::unexpected(usage_error("invalid --env (use KEY=VALUE or KEY)", value));
            options.env.push_back(value);
        } else if (CAGE_TRY(value_of(arg, "--hostname", value))) {
            options.hostname = value;
        } else if (CAGE_TRY(value_of(arg, "--name", value))) {
            options.name = value;
        } else if (CAGE_TRY(value_of(arg, "--network", value))) {
            if (value == "none")
                options.network = runtime::Network::none;
            else if (value == "host")
                options.network = runtime::Network::host;
            else if (value == "slirp4netns")
                options.network = runtime::Network::slirp4netns;
            else
                return std::unexpected(usage_error("invalid --network (use none, slirp4netns or host)", value));
        } else if (CAGE_TRY(value_of(arg, "--seccomp", value))) {
            if (value.empty())
                return std::unexpected(usage_error("invalid --seccomp (use default, strict, unconfined or a file)"));
            options.seccomp = value;
        } else if (CAGE_TRY(value_of(arg, "--timeout", value))) {
            options.timeout = CAGE_TRY(parse_duration(value));
        } else if (arg == "--best-effort-limits") {
            options.best_effort_limits = true;
        } else if (CAGE_TRY(value_of(arg, "--memory", value))) {
            options.limits.memory = CAGE_TRY(limit_or_max<std::uint64_t>(value, parse_size));
            options.limits.require_memory = options.limits.memory.has_value();
        } else if (CAGE_TRY(value_of(arg, "--memory-swap", value))) {
            options.limits.swap = CAGE_TRY(limit_or_max<std::uint64_t>(value, [](std::string_view text) -> Expected<std::uint64_t> {
                return text == "0" ? 0 : parse_size(text);
            }));
            options.limits.require_memory = true;
        } else if (CAGE_TRY(value_of(arg, "--pids", value))) {
            options.limits.pids = CAGE_TRY(limit_or_max<std::uint64_t>(value, [](std::string_view text) {
                return parse_count(text, 1, std::uint64_t{1} << 22, "--pids (use a number from 1, or max)");
            }));
            options.limits.require_pids = options.limits.pids.has_value();
        } else if (CAGE_TRY(value_of(arg, "--cpus", value))) {
            options.limits.cpus = CAGE_TRY(limit_or_max<double>(value, parse_cpus));
            options.limits.require_cpus = options.limits.cpus.has_value();
        } else if (CAGE_TRY(value_of(arg, "--io-weight", value))) {
            options.limits.io_weight = static_cast<std::uint32_t>(
                CAGE_TRY(parse_count(value, 1, 10000, "--io-weight (use 1 to 10000)")));
            options.limits.require_io_weight = true;
        } else {
            return std::unexpected(usage_error("unknown option", std::string(arg)));
        }
    }
    options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())), args.end());
    if (options.help)
        return options;
    if (!options.rootfs.empty() && options.image)
        return std::unexpected(usage_error("--rootfs and --image exclude each other"));
    if (options.rootfs.empty() && !options.image) {
        // cage run [OPTIONS] IMAGE [COMMAND...]
        if (options.command.empty())
            return std::unexpected(usage_error("no image or root filesystem given: use IMAGE or --rootfs DIR"));
        options.image = options.command.front();
        options.image_from_word = true;
        options.command.erase(options.command.begin());
    }
    // An image brings its own command; a bare root filesystem does not.
    if (!options.image && options.command.empty())
        return std::unexpected(usage_error("no command given"));
    return options;
}

}  // namespace cage::cli
