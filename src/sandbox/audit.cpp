#include "sandbox/audit.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "runtime/util.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::sandbox {
namespace {

// A program that loops on a refused call must not fill the disk: after this many records of
// one call, only the count goes on (in the summary).
constexpr std::uint64_t max_records_per_syscall = 1000;

std::string iso_time(std::chrono::system_clock::time_point time)
{
    auto since_epoch = time.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    std::time_t t = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char text[64];
    std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
    return text;
}

}  // namespace

std::string state_dir()
{
    if (::getuid() == 0)
        return "/var/lib/cage/state";
    return user_directory("XDG_STATE_HOME", ".local/state");
}

std::string audit_log_path(const std::string& sandbox_name)
{
    return state_dir() + "/audit/" + sandbox_name + ".jsonl";
}

std::string audit_record(const seccomp::Denial& denial)
{
    const char* errno_name = ::strerrorname_np(denial.errnum);
    auto args = nlohmann::json::array();
    for (auto arg : denial.args) {
        char text[24];
        std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(arg));
        args.push_back(text);
    }
    nlohmann::json record{
        {"time", iso_time(denial.time)},
        {"syscall", denial.syscall},
        {"errno", errno_name ? errno_name : std::to_string(denial.errnum)},
        {"pid", denial.pid},
        {"command", denial.command},
        {"args", args},
    };
    return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AuditLog::record(const seccomp::Denial& denial)
{
    if (failed_ || ++recorded_[denial.syscall] > max_records_per_syscall)
        return;
    if (!file_) {
        auto dir = state_dir() + "/audit";
        int fd = -1;
        if (make_host_directories(dir, 0700))
            fd = ::open(audit_log_path(name_).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || !(file_.reset(::fdopen(fd, "a")), file_)) {
            if (fd >= 0)
                ::close(fd);
            failed_ = true;
            std::fprintf(stderr, "cage: warning: cannot write the audit log %s: %s\n", audit_log_path(name_).c_str(),
                         std::strerror(errno));
            return;
        }
    }
    auto line = audit_record(denial);
    std::fprintf(file_.get(), "%s\n", line.c_str());
    std::fflush(file_.get());
}

std::string refusal_summary(const std::map<std::string, std::uint64_t>& refused, const std::string& sandbox_name)
{
    if (refused.empty())
        return {};
    std::vector<std::pair<std::string, std::uint64_t>> calls(refused.begin(), refused.end());
    std::stable_sort(calls.begin(), calls.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::uint64_t total = 0;
    for (const auto& call : calls)
        total += call.second;
    std::string text = "refused " + std::to_string(total) + (total == 1 ? " syscall: " : " syscalls: ");
    for (std::size_t i = 0; i < calls.size(); ++i) {
        if (i == 5) {
            text += ", and " + std::to_string(calls.size() - i) + " more";
            break;
        }
        text += (i ? ", " : "") + calls[i].first + " x" + std::to_string(calls[i].second);
    }
    return text + " (see cage logs " + sandbox_name + ")";
}

}  // namespace cage::sandbox
