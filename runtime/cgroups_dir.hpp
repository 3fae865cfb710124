// A cgroup directory cage made, v2 or v1 alike: its files, killing what runs in it, removing
// it, and the janitor that removes it when cage cannot (cgroups_dir.cpp). The drivers
// (cgroups_fs.cpp, cgroups_v1.cpp) share these; nothing here touches a cgroup cage did not make.
#pragma once

#include <cage/error.hpp>

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/fd.hpp"

namespace cage::cgroups {

bool write_at(int dir, const char* file, const std::string& value);
std::optional<std::string> read_at(int dir, const char* file);

// Write VALUE to the limit FILE of the group DIR (at PATH, for the error).
Expected<void> set_limit(int dir, const std::string& path, const char* file, const std::string& value);
// Move process PID into the group DIR (at PATH, for the error) through cgroup.procs.
Expected<void> move_into(int dir, const std::string& path, pid_t pid);

// cgroup.kill (v2, 5.14+), else a SIGKILL to every process cgroup.procs lists.
void kill_in(int dir);
// Some process is still in it: cgroup.events says so on v2; v1 has only cgroup.procs.
bool populated(int dir);

// mkdirat(parent, name); a directory of that name left by a dead cage with the same pid
// (ours by name) is taken over when it is empty. Sets errno on failure.
bool make_group(int parent, const std::string& name);
// Kill everything in parent/name until it is empty, then rmdir it (which can still be EBUSY
// for a moment after the last exit). A missing directory counts as removed.
bool remove_group(int parent, const std::string& name);

// Runs cleanup in a detached process, "cage-cgroup-gc", once this cage is gone however it
// ended, or once the returned descriptor is closed (after cage cleaned up by itself, so the
// janitor finds nothing left). Only the descriptors in keep stay open in it.
Expected<UniqueFd> start_janitor(std::vector<int> keep, std::function<void()> cleanup);

}  // namespace cage::cgroups
