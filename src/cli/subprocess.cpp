#include "cli/subprocess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/fd.hpp"

extern char** environ;

namespace cage::cli {
namespace {

Expected<std::string> read_all(int fd, const std::string& program)
{
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return std::unexpected(errno_error("cannot read the output of a helper", program));
        if (got == 0)
            return text;
        text.append(buffer, static_cast<std::size_t>(got));
    }
}

Expected<int> wait_for(pid_t pid, const std::string& program)
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return std::unexpected(errno_error("cannot wait for a helper", program));
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

Expected<ProgramResult> run_program(const std::vector<std::string>& argv, bool capture_stdout)
{
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    UniqueFd reader;
    UniqueFd writer;
    if (capture_stdout) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) < 0)
            return std::unexpected(errno_error("cannot start a helper", argv.front()));
        reader = UniqueFd(out[0]);
        writer = UniqueFd(out[1]);
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (capture_stdout)
        ::posix_spawn_file_actions_adddup2(&actions, writer.get(), STDOUT_FILENO);
    pid_t pid = 0;
    int error = ::posix_spawn(&pid, argv.front().c_str(), &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    writer = UniqueFd();
    if (error != 0) {
        errno = error;
        return std::unexpected(errno_error("cannot start a helper", argv.front()));
    }
    ProgramResult result;
    auto printed = capture_stdout ? read_all(reader.get(), argv.front()) : Expected<std::string>{};
    result.status = CAGE_TRY(wait_for(pid, argv.front()));
    result.output = CAGE_TRY(std::move(printed));
    while (!result.output.empty() && result.output.back() == '\n')
        result.output.pop_back();
    return result;
}

}  // namespace cage::cli
