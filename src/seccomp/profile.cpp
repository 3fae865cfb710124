#include "seccomp/profile.hpp"

#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/seccomp.hpp"
#include "runtime/util.hpp"

namespace cage::profile {
namespace {

constexpr int max_profile_depth = 4;

// Names a profile may use for argument values.
const std::map<std::string, std::uint32_t, std::less<>>& symbolic_values()
{
    static const std::map<std::string, std::uint32_t, std::less<>> values{
        {"TIOCSTI", TIOCSTI}, {"TIOCLINUX", TIOCLINUX}, {"TIOCSETD", TIOCSETD},
        {"AF_UNIX", AF_UNIX}, {"AF_INET", AF_INET}, {"AF_INET6", AF_INET6}, {"AF_NETLINK", AF_NETLINK},
        {"AF_PACKET", AF_PACKET}, {"AF_VSOCK", AF_VSOCK}, {"AF_ALG", AF_ALG},
        {"CLONE_NEWNS", CLONE_NEWNS}, {"CLONE_NEWCGROUP", CLONE_NEWCGROUP}, {"CLONE_NEWUTS", CLONE_NEWUTS},
        {"CLONE_NEWIPC", CLONE_NEWIPC}, {"CLONE_NEWUSER", CLONE_NEWUSER}, {"CLONE_NEWPID", CLONE_NEWPID},
        {"CLONE_NEWNET", CLONE_NEWNET}, {"CLONE_NEWTIME", CLONE_NEWTIME},
        {"PER_LINUX", 0}, {"PERSONALITY_QUERY", 0xffffffff},
    };
    return values;
}

std::optional<int> errno_named(std::string_view name)
{
    for (int errnum = 1; errnum < 4096; ++errnum)
        if (const char* known = ::strerrorname_np(errnum); known && name == known)
            return errnum;
    return std::nullopt;
}

Error profile_error(const ProfileText& profile, int line, const std::string& what, const std::string& hint = {})
{
    std::string where = profile.origin;
    if (line > 0)
        where += ":" + std::to_string(line);
    return plain_error("bad seccomp profile: " + what, where, hint);
}

// --- cage's YAML format --------------------------------------------------------------------

class YamlReader {
public:
    explicit YamlReader(const ProfileText& profile) : profile_(profile) {}

    Expected<seccomp::Policy> read(int depth)
    {
        YAML::Node root;
        try {
            root = YAML::Load(profile_.text);
        } catch (const YAML::Exception& e) {
            return std::unexpected(profile_error(profile_, e.mark.line + 1, e.msg));
        }
        if (!root.IsMap())
            return std::unexpected(profile_error(profile_, 1, "expected a mapping at the top"));
        seccomp::Policy policy;
        if (auto base = root["extends"]) {
            policy = CAGE_TRY(read_base(base, depth));
        }
        for (auto entry : root) {
            auto key = entry.first.as<std::string>();
            CAGE_TRY(read_key(key, entry.second, policy));
        }
        return policy;
    }

private:
    int line(const YAML::Node& node) const { return node.Mark().line + 1; }

    Error error(const YAML::Node& node, const std::string& what, const std::string& hint = {}) const
    {
        return profile_error(profile_, line(node), what, hint);
    }

    Expected<seccomp::Policy> read_base(const YAML::Node& node, int depth)
    {
        auto name = CAGE_TRY(scalar(node));
        auto text = builtin_seccomp_profile(name);
        if (!text)
            return std::unexpected(error(node, "extends an unknown built-in profile '" + name + "'", "use default or strict"));
        if (depth >= max_profile_depth)
            return std::unexpected(error(node, "profiles extend each other too deeply"));
        return YamlReader(ProfileText{"builtin:" + name, *text}).read(depth + 1);
    }

    Expected<void> read_key(const std::string& key, const YAML::Node& value, seccomp::Policy& policy)
    {
        if (key == "extends" || key == "description")
            return {};
        if (key == "default_errno")
            policy.default_errnum = CAGE_TRY(errno_value(value));
        else if (key == "unknown_errno")
            policy.unknown_errnum = CAGE_TRY(errno_value(value));
        else if (key == "foreign_abi_errno")
            policy.foreign_abi_errnum = CAGE_TRY(errno_value(value));
        else if (key == "allow")
            CAGE_TRY(read_allow(value, policy));
        else if (key == "errno")
            CAGE_TRY(read_refusals(value, policy));
        else if (key == "guards")
            CAGE_TRY(read_guards(value, policy));
        else
            return std::unexpected(error(value, "unknown key '" + key + "'",
                                         "known keys: extends, description, default_errno, unknown_errno, "
                                         "foreign_abi_errno, allow, errno, guards"));
        return {};
    }

    Expected<std::string> scalar(const YAML::Node& node) const
    {
        if (!node.IsScalar())
            return std::unexpected(error(node, "expected a single value"));
        return node.Scalar();
    }

    Expected<int> errno_value(const YAML::Node& node) const
    {
        auto name = CAGE_TRY(scalar(node));
        if (auto errnum = errno_named(name))
            return *errnum;
        return std::unexpected(error(node, "unknown errno '" + name + "'", "use a name like EPERM or ENOSYS"));
    }

    Expected<std::vector<std::string>> syscall_names(const YAML::Node& list) const
    {
        if (!list.IsSequence())
            return std::unexpected(error(list, "expected a list of system call names"));
        std::vector<std::string> names;
        for (const auto& item : list) {
            auto name = CAGE_TRY(scalar(item));
            if (!seccomp::syscall_number(name))
                return std::unexpected(error(item, "unknown system call '" + name + "'", "check the name against syscalls(2)"));
            names.push_back(name);
        }
        return names;
    }

    Expected<void> read_allow(const YAML::Node& list, seccomp::Policy& policy) const
    {
        auto names = CAGE_TRY(syscall_names(list));
        forget(policy, names);
        policy.rules.push_back({names, seccomp::Action::allow, 0, {}});
        return {};
    }

    Expected<void> read_refusals(const YAML::Node& map, seccomp::Policy& policy) const
    {
        if (!map.IsMap())
            return std::unexpected(error(map, "expected errno names, each with a list of system calls"));
        for (auto entry : map) {
            int errnum = CAGE_TRY(errno_value(entry.first));
            auto names = CAGE_TRY(syscall_names(entry.second));
            forget(policy, names);
            policy.rules.push_back({names, seccomp::Action::errno_, errnum, {}});
        }
        return {};
    }

    // A profile that extends another overrides what the base said of the same calls.
    static void forget(seccomp::Policy& policy, const std::vector<std::string>& names)
    {
        std::set<std::string> named(names.begin(), names.end());
        for (auto& rule : policy.rules)
            std::erase_if(rule.names, [&](const std::string& name) { return named.contains(name); });
        std::erase_if(policy.guards, [&](const seccomp::Guard& guard) { return named.contains(guard.syscall); });
    }

    Expected<std::uint32_t> argument_value(const YAML::Node& node) const
    {
        auto text = CAGE_TRY(scalar(node));
        auto symbols = symbolic_values();
        if (auto known = symbols.find(text); known != symbols.end())
            return known->second;
        try {
            std::size_t used = 0;
            auto value = std::stoull(text, &used, 0);
            if (used == text.size() && value <= 0xffffffffULL)
                return static_cast<std::uint32_t>(value);
        } catch (const std::exception&) {
        }
        return std::unexpected(error(node, "bad argument value '" + text + "'", "give a number (32 bits) or a known name such as TIOCSTI"));
    }

    Expected<seccomp::Guard> read_guard(const YAML::Node& node) const
    {
        if (!node.IsMap() || !node["syscall"] || !node["arg"])
            return std::unexpected(error(node, "a guard needs syscall, arg and one of deny, allow_only, deny_flags"));
        seccomp::Guard guard;
        guard.syscall = CAGE_TRY(scalar(node["syscall"]));
        if (!seccomp::syscall_number(guard.syscall))
            return std::unexpected(error(node["syscall"], "unknown system call '" + guard.syscall + "'"));
        auto index = CAGE_TRY(argument_value(node["arg"]));
        if (index > 5)
            return std::unexpected(error(node["arg"], "argument index must be 0-5"));
        guard.index = index;
        if (node["errno"])
            guard.errnum = CAGE_TRY(errno_value(node["errno"]));
        int kinds = 0;
        for (auto [key, kind] : {std::pair{"deny", seccomp::Guard::Kind::deny_values},
                                 std::pair{"allow_only", seccomp::Guard::Kind::allow_only},
                                 std::pair{"deny_flags", seccomp::Guard::Kind::deny_flags}}) {
            auto list = node[key];
            if (!list)
                continue;
            ++kinds;
            guard.kind = kind;
            if (!list.IsSequence() || list.size() == 0)
                return std::unexpected(error(list, std::string(key) + " needs a list of values"));
            for (const auto& item : list)
                guard.values.push_back(CAGE_TRY(argument_value(item)));
        }
        if (kinds != 1)
            return std::unexpected(error(node, "a guard needs exactly one of deny, allow_only, deny_flags"));
        if (guard.kind == seccomp::Guard::Kind::deny_flags) {
            std::uint32_t mask = 0;
            for (auto flag : guard.values)
                mask |= flag;
            guard.values = {mask};
        }
        return guard;
    }

    Expected<void> read_guards(const YAML::Node& list, seccomp::Policy& policy) const
    {
        if (!list.IsSequence())
            return std::unexpected(error(list, "guards must be a list"));
        for (const auto& node : list)
            policy.guards.push_back(CAGE_TRY(read_guard(node)));
        return {};
    }

    const ProfileText& profile_;
};

// --- Docker / OCI JSON ---------------------------------------------------------------------

int line_of(const std::string& text, std::size_t offset)
{
    offset = std::min(offset, text.size());
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

int line_naming(const std::string& text, const std::string& value)
{
    auto at = text.find("\"" + value + "\"");
    return at == std::string::npos ? 0 : line_of(text, at);
}

const char* native_arch_name()
{
#if defined(__x86_64__)
    return "SCMP_ARCH_X86_64";
#elif defined(__aarch64__)
    return "SCMP_ARCH_AARCH64";
#else
    return "";
#endif
}

bool mentions_native_arch(const nlohmann::json& arches)
{
    static const std::map<std::string, std::string> short_names{{"amd64", "SCMP_ARCH_X86_64"}, {"arm64", "SCMP_ARCH_AARCH64"}};
    for (const auto& arch : arches) {
        if (!arch.is_string())
            continue;
        auto name = arch.get<std::string>();
        if (auto mapped = short_names.find(name); mapped != short_names.end())
            name = mapped->second;
        if (name == native_arch_name())
            return true;
    }
    return false;
}

// Docker's conditions: cage drops every capability, so a rule that needs one never applies.
bool rule_applies(const nlohmann::json& rule)
{
    if (auto includes = rule.find("includes"); includes != rule.end() && includes->is_object()) {
        if (auto caps = includes->find("caps"); caps != includes->end() && caps->is_array() && !caps->empty())
            return false;
        if (auto arches = includes->find("arches"); arches != includes->end() && arches->is_array() && !mentions_native_arch(*arches))
            return false;
        if (auto kernel = includes->find("minKernel"); kernel != includes->end() && kernel->is_string() &&
                                                      !kernel_at_least(kernel->get<std::string>()))
            return false;
    }
    if (auto excludes = rule.find("excludes"); excludes != rule.end() && excludes->is_object()) {
        if (auto arches = excludes->find("arches"); arches != excludes->end() && arches->is_array() && mentions_native_arch(*arches))
            return false;
    }
    return true;
}

class JsonReader {
public:
    explicit JsonReader(const ProfileText& profile) : profile_(profile) {}

    Expected<seccomp::Policy> read()
    {
        nlohmann::json root;
        try {
            root = nlohmann::json::parse(profile_.text);
        } catch (const nlohmann::json::parse_error& e) {
            return std::unexpected(profile_error(profile_, line_of(profile_.text, e.byte), "not valid JSON"));
        }
        if (!root.is_object())
            return std::unexpected(profile_error(profile_, 1, "expected a JSON object"));
        seccomp::Policy policy;
        policy.ignore_unknown_names = true;  // profiles for other tools name newer calls
        auto default_action = CAGE_TRY(action(root.value("defaultAction", "")));
        if (default_action != seccomp::Action::errno_)
            return std::unexpected(error(root.value("defaultAction", ""),
                                         "defaultAction must be SCMP_ACT_ERRNO (cage refuses by default)"));
        policy.default_errnum = root.value("defaultErrnoRet", EPERM);
        auto rules = root.find("syscalls");
        if (rules == root.end() || !rules->is_array())
            return std::unexpected(profile_error(profile_, 1, "no \"syscalls\" list"));
        for (const auto& rule : *rules)
            if (rule.is_object() && rule_applies(rule))
                policy.rules.push_back(CAGE_TRY(read_rule(rule)));
        return policy;
    }

private:
    Error error(const std::string& offending, const std::string& what) const
    {
        return profile_error(profile_, line_naming(profile_.text, offending), what);
    }

    Expected<seccomp::Action> action(const std::string& name) const
    {
        static const std::map<std::string, seccomp::Action> actions{
            {"SCMP_ACT_ALLOW", seccomp::Action::allow},        {"SCMP_ACT_ERRNO", seccomp::Action::errno_},
            {"SCMP_ACT_KILL", seccomp::Action::kill_thread},   {"SCMP_ACT_KILL_THREAD", seccomp::Action::kill_thread},
            {"SCMP_ACT_KILL_PROCESS", seccomp::Action::kill_process}, {"SCMP_ACT_TRAP", seccomp::Action::trap},
            {"SCMP_ACT_LOG", seccomp::Action::log},
        };
        if (auto known = actions.find(name); known != actions.end())
            return known->second;
        return std::unexpected(error(name, "unsupported action '" + name + "'"));
    }

    Expected<seccomp::ArgumentCheck> read_argument(const nlohmann::json& arg) const
    {
        static const std::map<std::string, seccomp::ArgumentCheck::Op> ops{
            {"SCMP_CMP_EQ", seccomp::ArgumentCheck::Op::eq}, {"SCMP_CMP_NE", seccomp::ArgumentCheck::Op::ne},
            {"SCMP_CMP_LT", seccomp::ArgumentCheck::Op::lt}, {"SCMP_CMP_LE", seccomp::ArgumentCheck::Op::le},
            {"SCMP_CMP_GT", seccomp::ArgumentCheck::Op::gt}, {"SCMP_CMP_GE", seccomp::ArgumentCheck::Op::ge},
            {"SCMP_CMP_MASKED_EQ", seccomp::ArgumentCheck::Op::masked_eq},
        };
        auto op_name = arg.value("op", "");
        auto op = ops.find(op_name);
        if (op == ops.end())
            return std::unexpected(error(op_name, "unknown comparison '" + op_name + "'"));
        seccomp::ArgumentCheck check;
        check.index = arg.value("index", 0u);
        check.op = op->second;
        if (check.op == seccomp::ArgumentCheck::Op::masked_eq) {
            check.mask = arg.value("value", std::uint64_t{0});  // Docker: value is the mask
            check.value = arg.value("valueTwo", std::uint64_t{0});
        } else {
            check.value = arg.value("value", std::uint64_t{0});
        }
        return check;
    }

    Expected<seccomp::Rule> read_rule(const nlohmann::json& json) const
    {
        seccomp::Rule rule;
        if (auto names = json.find("names"); names != json.end() && names->is_array())
            for (const auto& name : *names)
                if (name.is_string())
                    rule.names.push_back(name.get<std::string>());
        if (auto name = json.find("name"); name != json.end() && name->is_string())
            rule.names.push_back(name->get<std::string>());
        rule.action = CAGE_TRY(action(json.value("action", "")));
        rule.errnum = json.value("errnoRet", EPERM);
        if (auto args = json.find("args"); args != json.end() && args->is_array())
            for (const auto& arg : *args)
                rule.args.push_back(CAGE_TRY(read_argument(arg)));
        return rule;
    }

    const ProfileText& profile_;
};

}  // namespace

std::optional<std::string> builtin_seccomp_profile(const std::string& name)
{
    for (const auto& [builtin, text] : builtin_seccomp_profiles())
        if (builtin == name)
            return text;
    return std::nullopt;
}

Expected<ProfileText> find_seccomp_profile(const std::string& name)
{
    if (name.find('/') == std::string::npos && !name.ends_with(".yaml") && !name.ends_with(".json")) {
        if (auto text = builtin_seccomp_profile(name))
            return ProfileText{"builtin:" + name, *text};
        return std::unexpected(plain_error("unknown seccomp profile '" + name + "'", {},
                                           "use default, strict, unconfined, or the path of a profile file"));
    }
    auto text = read_small_file(name);
    if (!text)
        return std::unexpected(errno_error("cannot read the seccomp profile", name));
    return ProfileText{name, *text};
}

Expected<seccomp::Policy> parse_seccomp_profile(const ProfileText& profile)
{
    auto first = profile.text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && profile.text[first] == '{')
        return JsonReader(profile).read();
    return YamlReader(profile).read(0);
}

}  // namespace cage::profile
