#include "runtime/caps.hpp"

#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/capability.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace cage::caps {

Expected<void> drop_bounding_set()
{
    // libcap knows the running kernel's highest capability (cap_last_cap).
    int last = static_cast<int>(cap_max_bits()) - 1;
    for (int cap = 0; cap <= last; ++cap) {
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return std::unexpected(errno_error("drop capability " + std::to_string(cap) + " from the bounding set"));
    }
    return {};
}

Expected<void> lock_securebits()
{
    // NOROOT: uid 0 gains no capabilities at execve. NO_SETUID_FIXUP: changing uids never
    // restores any. NO_CAP_AMBIENT_RAISE: the ambient set stays empty. All locked.
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                         SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return std::unexpected(errno_error("lock the securebits"));
    return {};
}

Expected<void> clear_all()
{
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return std::unexpected(errno_error("clear the ambient capabilities"));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, data) < 0)
        return std::unexpected(errno_error("clear the capabilities"));
    return {};
}

}  // namespace cage::caps
