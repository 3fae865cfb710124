// uid/gid maps of the container's user namespace.
//
// Rootless, the invoking user maps to the container user. When the user owns a subordinate
// range (/etc/subuid, /etc/subgid) the other container ids, root included, map into it
// through newuidmap/newgidmap. Without a range, or without the helpers, only the one id is
// mapped (and setgroups is denied).
//
// As real root, every container id maps into root's range, the container user too: no
// process of a container is host root. The workspace and the other binds are idmapped so
// that host root's files there show as the container user's, and what it writes lands as
// host root's (bind maps). Where a bind cannot be idmapped (a filesystem or kernel without
// idmapped mounts), the container user maps to host root itself instead (map_host_root).
#pragma once

#include <cage/error.hpp>

#include "runtime/fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cage::idmap {

struct Range {
    std::uint32_t inside = 0;
    std::uint32_t outside = 0;
    std::uint32_t count = 0;
    bool operator==(const Range&) const = default;
};

struct SubordinateRange {
    std::uint32_t start = 0;
    std::uint32_t count = 0;
    bool operator==(const SubordinateRange&) const = default;
};

// The first "name:start:count" or "uid:start:count" line of an /etc/subuid-style file that
// belongs to the user. Malformed lines are skipped, as shadow's tools do.
std::optional<SubordinateRange> find_subordinate_range(std::string_view file_content,
                                                        std::string_view user_name,
                                                        std::uint32_t user_id);

// container_id -> host_id, and, with a range, the ids below and above it into that range.
std::vector<Range> build_map(std::uint32_t container_id, std::uint32_t host_id,
                             std::optional<SubordinateRange> range);

// "inside outside count\n" per range: the text /proc/PID/uid_map takes.
std::string format_map(const std::vector<Range>& map);

// The argument list for newuidmap/newgidmap: PID inside outside count ...
std::vector<std::string> helper_arguments(pid_t pid, const std::vector<Range>& map);

enum class Method {
    direct,  // real root writes both maps itself
    helper,  // newuidmap + newgidmap (setuid helpers from shadow's uidmap package)
    single,  // one id each, written by the unprivileged caller; setgroups denied
};

struct Plan {
    Method method = Method::single;
    std::vector<Range> uid_map;
    std::vector<Range> gid_map;
    // Real root with every container id in its range: the maps of the user namespace the
    // binds are idmapped through (see bind_map). Empty otherwise.
    std::vector<Range> bind_uid_map;
    std::vector<Range> bind_gid_map;
    std::string newuidmap;
    std::string newgidmap;
    // setgroups(2) works inside only when setgroups is not denied (not for single maps).
    bool can_setgroups() const { return method != Method::single; }
    // No container id is host root: pid 1, which starts with cage's ids, must take the
    // container root's before it creates a file (cage's ids have no name inside).
    bool shifted() const { return !bind_uid_map.empty(); }
    // The container user is host root: the case CVE-2019-5736 is about.
    bool host_root_inside() const { return method == Method::direct && !shifted(); }
};

// The maps of an idmapped bind for a container whose ids 0..count-1 are start..: on-disk id 0
// (host root, the invoking user) shows as container_id, and the container's other ids keep
// their own host ids.
std::vector<Range> bind_map(std::uint32_t container_id, SubordinateRange range);

// Decide how the caller's ids map for a container user uid:gid. Reads /etc/subuid,
// /etc/subgid and looks the helpers up in PATH.
Expected<Plan> plan(std::uint32_t container_uid, std::uint32_t container_gid,
                    const std::function<void(const std::string&)>& warn);

// Real root's fallback where the binds cannot be idmapped: the container user is host root,
// the other ids map into root's range.
Plan map_host_root(std::uint32_t container_uid, std::uint32_t container_gid);

// A user namespace with these maps, for idmapped mounts. Real root only; the process made to
// hold it while the maps are written has exited on return.
Expected<UniqueFd> user_namespace_with(const std::vector<Range>& uid_map, const std::vector<Range>& gid_map);

// Write the maps of the (stopped, waiting) child pid.
Expected<void> apply(const Plan& plan, pid_t pid);

}  // namespace cage::idmap
