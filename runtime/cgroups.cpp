#include "runtime/cgroups.hpp"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "runtime/util.hpp"

namespace cage::cgroups {
namespace {

constexpr const char* enable_v2 =
    "boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=all) for a cgroup v2 host";
constexpr const char* delegate_hint =
    "run cage under 'systemd-run --user --scope -p Delegate=yes', or delegate controllers to "
    "user@.service with a drop-in 'Delegate=cpu io memory pids' (see cage-run(1), LIMITS)";

bool writable(const std::string& path)
{
    return ::access(path.c_str(), W_OK) == 0;
}

bool delegated(const std::string& dir)
{
    return writable(dir) && writable(dir + "/cgroup.procs") && writable(dir + "/cgroup.subtree_control");
}

bool holds_only_us(const std::string& dir)
{
    auto procs = read_small_file(dir + "/cgroup.procs");
    return procs && *procs == std::to_string(::getpid()) + "\n";
}

bool has_controllers(const std::string& dir)
{
    auto enabled = read_small_file(dir + "/cgroup.subtree_control");
    return enabled && enabled->find_first_not_of(" \n") != std::string::npos;
}

// Keeps the RLIMIT_NPROC fallback; nothing else.
class NoneManager final : public Manager {
public:
    explicit NoneManager(std::uint64_t nproc) : nproc_(nproc) {}
    int clone_fd() const override { return -1; }
    Expected<void> enter(pid_t) override { return {}; }
    void kill_all() override {}
    Usage usage() const override { return {}; }
    Expected<void> destroy() override { return {}; }
    std::uint64_t nproc_fallback() const override { return nproc_; }

private:
    std::uint64_t nproc_;
};

std::string join(const std::vector<std::string>& words)
{
    std::string text;
    for (const auto& word : words)
        text += (text.empty() ? "" : ", ") + word;
    return text;
}

bool required(const runtime::Limits& limits, const std::string& controller)
{
    return (controller == "memory" && limits.require_memory) || (controller == "pids" && limits.require_pids) ||
           (controller == "cpu" && limits.require_cpus) || (controller == "io" && limits.require_io_weight);
}

std::vector<std::string> required_of(const runtime::Limits& limits, const std::vector<std::string>& controllers)
{
    std::vector<std::string> result;
    for (const auto& controller : controllers)
        if (required(limits, controller))
            result.push_back(controller);
    return result;
}

std::string fallback_note(const runtime::Limits& limits)
{
    if (!limits.pids)
        return "";
    return "; processes are capped by RLIMIT_NPROC " + std::to_string(*limits.pids) + " instead" +
           (::geteuid() == 0 ? " (except where the container's user is host root: a bind that cannot be idmapped)" : "");
}

std::string not_available(const std::vector<std::string>& missing, bool root)
{
    return "the " + join(missing) + " controller is not available in the cgroup cage uses; " +
           (root ? "enable it in " + std::string(mount_point) + "/cgroup.subtree_control" : std::string(delegate_hint));
}

Error unenforceable(const std::vector<std::string>& controllers, const std::string& why)
{
    return plain_error("cannot enforce the requested " + join(controllers) + " limit", mount_point,
                       why + "; or accept unenforced limits (cage run --best-effort-limits)");
}

Expected<std::unique_ptr<Manager>> without_cgroup(const runtime::Limits& limits, const std::string& why,
                                                  const std::function<void(const std::string&)>& warn)
{
    auto needed = required_of(limits, wanted_controllers(limits));
    if (!needed.empty())
        return std::unexpected(unenforceable(needed, why));
    if (!wanted_controllers(limits).empty())
        warn("resource limits are not enforced: " + why + fallback_note(limits));
    return none_manager(limits);
}

// The cgroup lacks some wanted controllers: a required limit among them is refused, the
// others are warned about.
Expected<void> partly_enforced(const runtime::Limits& limits, const std::vector<std::string>& missing, Driver driver,
                               const std::string& why, const std::function<void(const std::string&)>& warn)
{
    if (missing.empty())
        return {};
    if (auto needed = required_of(limits, missing); !needed.empty())
        return std::unexpected(unenforceable(needed, why));
    if (driver == Driver::v1_pids)
        warn("resource limits are partly not enforced: the pids limit is, by the cgroup v1 pids controller; the " +
             join(missing) + " limit is not: " + why);
    else
        warn("resource limits are partly not enforced: " + why +
             (std::ranges::find(missing, "pids") != missing.end() ? fallback_note(limits) : ""));
    return {};
}

}  // namespace

Choice choose(const HostFacts& facts)
{
    if (!facts.cgroup2)
        return {facts.root && facts.v1_pids ? Driver::v1_pids : Driver::none, Placement::nowhere,
                std::string("no cgroup v2 at ") + mount_point + " (a cgroup v1 or hybrid host); " + enable_v2};
    if (facts.root)
        return {Driver::fs, Placement::top, {}};
    if (facts.own_delegated && facts.own_only_us)
        return {Driver::fs, Placement::split, {}};
    if (facts.parent_delegated)
        return {Driver::fs, Placement::sibling, {}};
    if (facts.systemd_user && !facts.in_scope)
        return {Driver::systemd, Placement::nowhere, {}};
    return {Driver::none, Placement::nowhere, std::string("no cgroup v2 subtree is delegated to this user; ") + delegate_hint};
}

std::string path_of(const std::string& cgroup)
{
    return cgroup == "/" ? std::string(mount_point) : std::string(mount_point) + cgroup;
}

std::string parent_of(const std::string& cgroup)
{
    auto slash = cgroup.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : cgroup.substr(0, slash);
}

std::vector<std::string> wanted_controllers(const runtime::Limits& limits)
{
    std::vector<std::string> controllers;
    if (limits.memory || limits.swap)
        controllers.emplace_back("memory");
    if (limits.pids)
        controllers.emplace_back("pids");
    if (limits.cpus)
        controllers.emplace_back("cpu");
    if (limits.io_weight)
        controllers.emplace_back("io");
    return controllers;
}

bool lists_controller(std::string_view list, std::string_view controller)
{
    while (!list.empty()) {
        auto start = list.find_first_not_of(" \n");
        if (start == std::string_view::npos)
            return false;
        list.remove_prefix(start);
        auto word = list.substr(0, list.find_first_of(" \n"));
        if (word == controller)
            return true;
        list.remove_prefix(word.size());
    }
    return false;
}

std::string format_cpu_max(std::optional<double> cpus)
{
    if (!cpus)
        return "max " + std::to_string(cpu_period);
    auto quota = static_cast<std::uint64_t>(std::llround(*cpus * static_cast<double>(cpu_period)));
    return std::to_string(std::max<std::uint64_t>(quota, 1000)) + " " + std::to_string(cpu_period);
}

std::optional<std::string> own_cgroup(std::string_view text)
{
    while (!text.empty()) {
        auto line = text.substr(0, text.find('\n'));
        text.remove_prefix(std::min(text.size(), line.size() + 1));
        if (line.starts_with("0::/"))
            return std::string(line.substr(3));
    }
    return std::nullopt;
}

std::optional<std::string> own_v1_cgroup(std::string_view text, std::string_view controller)
{
    while (!text.empty()) {
        auto line = text.substr(0, text.find('\n'));
        text.remove_prefix(std::min(text.size(), line.size() + 1));
        auto first = line.find(':');
        auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos || line.substr(second + 1).empty())
            continue;
        auto controllers = line.substr(first + 1, second - first - 1);
        for (std::size_t start = 0; start <= controllers.size();) {
            auto end = std::min(controllers.find(',', start), controllers.size());
            if (controllers.substr(start, end - start) == controller)
                return std::string(line.substr(second + 1));
            start = end + 1;
        }
    }
    return std::nullopt;
}

std::optional<std::uint64_t> keyed_value(std::string_view content, std::string_view key)
{
    while (!content.empty()) {
        auto line = content.substr(0, content.find('\n'));
        content.remove_prefix(std::min(content.size(), line.size() + 1));
        if (line.size() <= key.size() || !line.starts_with(key) || line[key.size()] != ' ')
            continue;
        auto number = line.substr(key.size() + 1);
        std::uint64_t value = 0;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (ec == std::errc{} && end == number.data() + number.size())
            return value;
    }
    return std::nullopt;
}

HostFacts gather_facts()
{
    HostFacts facts;
    struct statfs fs{};
    facts.cgroup2 = ::statfs(mount_point, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
    facts.root = ::geteuid() == 0;
    facts.systemd_user = systemd_user_reachable();
    facts.in_scope = std::getenv(scope_env) != nullptr;
    auto self = read_small_file("/proc/self/cgroup").value_or("");
    if (!facts.cgroup2 && facts.root) {
        struct statfs v1{};
        facts.v1_pids = ::statfs(v1_pids_mount, &v1) == 0 && v1.f_type == CGROUP_SUPER_MAGIC &&
                        own_v1_cgroup(self, "pids").has_value();
    }
    auto own = own_cgroup(self);
    if (!facts.cgroup2 || facts.root || !own)
        return facts;
    facts.own_delegated = delegated(path_of(*own));
    facts.own_only_us = holds_only_us(path_of(*own));
    if (*own != "/") {
        auto parent = path_of(parent_of(*own));
        facts.parent_delegated = writable(parent) && writable(parent + "/cgroup.procs") && has_controllers(parent);
    }
    return facts;
}

std::unique_ptr<Manager> none_manager(const runtime::Limits& limits)
{
    return std::make_unique<NoneManager>(limits.pids.value_or(0));
}

Expected<std::unique_ptr<Manager>> make_manager(const runtime::Limits& limits,
                                                const std::function<void(const std::string&)>& warn)
{
    auto controllers = wanted_controllers(limits);
    if (controllers.empty())
        return none_manager(limits);
    auto facts = gather_facts();
    auto choice = choose(facts);
    if (choice.driver == Driver::systemd)  // not re-executed (an embedder): no scope to use
        choice.reason = std::string("no cgroup v2 subtree is delegated to this user; ") + delegate_hint;
    if (choice.driver == Driver::v1_pids && !limits.pids)  // nothing for it to enforce
        choice.driver = Driver::none;
    if (choice.driver != Driver::fs && choice.driver != Driver::v1_pids)
        return without_cgroup(limits, choice.reason, warn);

    auto self = read_small_file("/proc/self/cgroup").value_or("");
    std::vector<std::string> missing;
    auto manager = choice.driver == Driver::fs
                       ? fs_manager(choice.placement, own_cgroup(self).value_or("/"), limits, missing)
                       : pids_v1_manager(own_v1_cgroup(self, "pids").value_or("/"), limits, missing);
    if (!manager)
        return without_cgroup(limits, manager.error().message(), warn);
    auto why = choice.driver == Driver::v1_pids ? choice.reason : not_available(missing, facts.root);
    CAGE_TRY(partly_enforced(limits, missing, choice.driver, why, warn));
    return manager;
}

}  // namespace cage::cgroups
