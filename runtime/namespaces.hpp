// The namespaces a container gets, and what to tell the user when the kernel refuses them.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <cstdint>

namespace cage::namespaces {

// CLONE_NEW* flags for one clone3: user, mount, PID, UTS, IPC, cgroup and (unless the host
// network is shared) network.
std::uint64_t clone_flags(const runtime::Spec& spec);

// An error for a refused user namespace, naming the sysctl or LSM restriction that caused it
// and the fix. errnum is the errno of the refused call.
Error userns_refused(std::string what, int errnum);

}  // namespace cage::namespaces
