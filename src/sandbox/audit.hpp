// The seccomp audit log: one JSON object per refused system call, in
// $XDG_STATE_HOME/cage/audit/NAME.jsonl (~/.local/state/cage; /var/lib/cage/state for root),
// and the one-line summary cage prints at exit.
#pragma once

#include <cage/seccomp.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace cage::sandbox {

std::string state_dir();
std::string audit_log_path(const std::string& sandbox_name);

class AuditLog {
public:
    // Opens lazily, at the first refusal: runs that refuse nothing leave no file.
    explicit AuditLog(std::string sandbox_name) : name_(std::move(sandbox_name)) {}
    void record(const seccomp::Denial& denial);

private:
    std::string name_;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, std::fclose};
    bool failed_ = false;
    std::map<std::string, std::uint64_t> recorded_;
};

// One JSON line, as the log stores it.
std::string audit_record(const seccomp::Denial& denial);

// "refused 3 syscalls: mount x2, ptrace x1 (see cage logs NAME)"; empty when nothing was.
std::string refusal_summary(const std::map<std::string, std::uint64_t>& refused, const std::string& sandbox_name);

}  // namespace cage::sandbox
