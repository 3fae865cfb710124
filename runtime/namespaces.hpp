// The namespaces a container gets, and what to tell the user when the kernel refuses them.
#pragma once

#include <cage/error.hpp>
#include <cage/spec.hpp>

#include <cstdint>

namespace cage::namespaces {

// CLONE_NEW* flags for one clone3: user, mount, PID, UTS, IPC, cgroup and (unless the host
// network is shared) network.
std::uint64_t clone_flags(const runtime::Spec& spec);

// Of those, the ones pid 1 may make itself, right after clone3, with unshare(): mount, UTS,
// IPC and network (the costly one). When the id maps are written by newuidmap/newgidmap, two
// setuid programs that take milliseconds, clone3 makes only the user, PID and cgroup
// namespaces, so that the helpers start a millisecond sooner and the kernel builds the rest
// meanwhile. Made by pid 1 before anything else, they are owned by the same user namespace
// and hold the same mounts as clone3's would.
std::uint64_t made_by_pid1(const runtime::Spec& spec);

// An error for a refused user namespace, naming the sysctl or LSM restriction that caused it
// and the fix. errnum is the errno of the refused call.
Error userns_refused(std::string what, int errnum);

}  // namespace cage::namespaces
