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
// Which directory a group is. The name alone does not say: cage-PID is made again by a
// second start in the same process (run()'s fallback) or by the cage it re-executes.
struct GroupId {
    dev_t device = 0;
    ino_t inode = 0;
};
std::optional<GroupId> group_id(int dir);

// With ONLY (the group's identity): kill everything in parent/name until it is empty, then
// rmdir it (which can still be EBUSY for a moment after the last exit); a directory of that
// name that is another group is left alone. Without: rmdir it only if it is empty, killing
// nothing. Either way a missing directory counts as removed.
bool remove_group(int parent, const std::string& name, std::optional<GroupId> only);

// A detached process, "cage-cgroup-gc", that removes the container's group when cage dies
// before it could, however it dies. It is started before the group exists (a kill between
// the mkdir and its fork would leave the group behind) and told the group's identity once it
// does; told done() when cage removed the group itself, it leaves everything alone, so that a
// later group of the same name is never touched. cleanup runs in it, with the identity if it
// was told one. Only the descriptors in keep stay open in it.
class Janitor {
public:
    Janitor() = default;  // none started
    static Expected<Janitor> start(std::vector<int> keep, std::function<void(std::optional<GroupId>)> cleanup);
    void watch(const GroupId& group);  // the group exists
    void done();                       // cage removed the group: nothing left to do
    explicit operator bool() const { return static_cast<bool>(socket_); }

private:
    explicit Janitor(UniqueFd socket) : socket_(std::move(socket)) {}
    UniqueFd socket_;  // closed without done(): cage is gone
};

}  // namespace cage::cgroups
