#include "runtime/namespaces.hpp"

#include <linux/sched.h>

#include "runtime/util.hpp"

namespace cage::namespaces {
namespace {

bool sysctl_is(const char* path, const char* value)
{
    auto content = read_small_file(path);
    return content && content->substr(0, content->find('\n')) == value;
}

}  // namespace

std::uint64_t clone_flags(const runtime::Spec& spec)
{
    // slirp4netns joins the network namespace as soon as the maps are written: clone3 makes it,
    // not pid 1 some time later.
    std::uint64_t network = spec.network == runtime::Network::slirp4netns ? CLONE_NEWNET : 0;
    return CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWCGROUP | network | made_by_pid1(spec);
}

std::uint64_t made_by_pid1(const runtime::Spec& spec)
{
    std::uint64_t flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (spec.network == runtime::Network::none)
        flags |= CLONE_NEWNET;
    return flags;
}

Error userns_refused(std::string what, int errnum)
{
    Error error{std::move(what), errnum, {}, {}, exit_cage_error};
    if (sysctl_is("/proc/sys/kernel/unprivileged_userns_clone", "0")) {
        error.path = "/proc/sys/kernel/unprivileged_userns_clone";
        error.hint = "unprivileged user namespaces are disabled; enable them with "
                     "'sysctl -w kernel.unprivileged_userns_clone=1'";
    } else if (sysctl_is("/proc/sys/user/max_user_namespaces", "0")) {
        error.path = "/proc/sys/user/max_user_namespaces";
        error.hint = "user namespaces are disabled; enable them with "
                     "'sysctl -w user.max_user_namespaces=15000'";
    } else if (sysctl_is("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")) {
        error.path = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
        error.hint = "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+); allow cage "
                     "with an AppArmor profile granting 'userns,' for its path, or run "
                     "'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0'";
    } else if (errnum == ENOSPC) {
        error.path = "/proc/sys/user/max_user_namespaces";
        error.hint = "the limit on user namespaces is reached; raise user.max_user_namespaces";
    } else {
        error.hint = "user namespaces are unavailable (check kernel.unprivileged_userns_clone, "
                     "user.max_user_namespaces and any LSM restriction)";
    }
    return error;
}

}  // namespace cage::namespaces
