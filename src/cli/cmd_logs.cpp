// cage logs NAME: the audit log of one sandbox, as a table or (--json) as stored.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "runtime/util.hpp"
#include "sandbox/audit.hpp"
#include "sandbox/sandbox.hpp"

namespace cage::cli {
namespace {

constexpr const char* logs_usage =
    "Usage: cage logs [--json] NAME\n"
    "\n"
    "Show the system calls the seccomp profile refused in sandbox NAME (the name cage run\n"
    "printed, or gave with --name): time, pid, command, system call and the errno it got.\n"
    "  --json   print the log as stored: one JSON object per line\n";

void print_row(const std::string& line)
{
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_object())
        return;
    std::printf("%-24s %7d  %-16s %-20s %s\n", record.value("time", "").c_str(), record.value("pid", 0),
                record.value("command", "").c_str(), record.value("syscall", "").c_str(),
                record.value("errno", "").c_str());
}

}  // namespace

int cmd_logs(std::span<const std::string> args)
{
    bool json = false;
    std::string name;
    for (const auto& arg : args) {
        if (arg == "-h" || arg == "--help") {
            std::fputs(logs_usage, stdout);
            return 0;
        }
        if (arg == "--json")
            json = true;
        else if (name.empty() && !arg.starts_with("-"))
            name = arg;
        else {
            std::fprintf(stderr, "cage: logs: unexpected argument: %s; see 'cage logs --help'\n", arg.c_str());
            return exit_cage_error;
        }
    }
    if (!sandbox::valid_name(name)) {
        std::fprintf(stderr, "cage: logs: give a sandbox name; see 'cage logs --help'\n");
        return exit_cage_error;
    }
    auto path = sandbox::audit_log_path(name);
    auto content = read_small_file(path);
    if (!content) {
        if (errno == ENOENT) {
            std::printf("no refused system calls recorded for %s\n", name.c_str());
            return 0;
        }
        std::fprintf(stderr, "cage: logs: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
        return exit_cage_error;
    }
    if (json) {
        std::fputs(content->c_str(), stdout);
        return 0;
    }
    std::printf("%-24s %7s  %-16s %-20s %s\n", "TIME", "PID", "COMMAND", "SYSCALL", "ERRNO");
    std::size_t start = 0;
    while (start < content->size()) {
        auto end = content->find('\n', start);
        if (end == std::string::npos)
            end = content->size();
        print_row(content->substr(start, end - start));
        start = end + 1;
    }
    return 0;
}

}  // namespace cage::cli
