// Embedding libcage: run one command in a container from your own program.
//
//   embed ROOTFS COMMAND [ARG...]
//
// Build against an installed libcage with: c++ -std=c++2b embed.cpp $(pkg-config --cflags --libs libcage)
#include <cage/cage.hpp>

#include <cstdio>

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s ROOTFS COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    cage::runtime::Spec spec;
    spec.lower_dirs = {argv[1]};
    spec.args.assign(argv + 2, argv + argc);
    spec.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
    spec.hostname = "embedded";
    spec.cwd = "/";

    // cage's default seccomp profile; each refused call is reported while the command runs.
    auto filter = cage::seccomp::builtin_filter("default");
    if (!filter) {
        std::fprintf(stderr, "embed: %s\n", filter.error().message().c_str());
        return filter.error().exit_code;
    }
    spec.seccomp = *filter;
    spec.on_denial = [](const cage::seccomp::Denial& denial) {
        std::fprintf(stderr, "embed: refused %s (pid %d, %s)\n", denial.syscall.c_str(), denial.pid,
                     denial.command.c_str());
    };

    auto result = cage::runtime::run(spec);
    if (!result) {
        std::fprintf(stderr, "embed: %s\n", result.error().message().c_str());
        return result.error().exit_code;
    }
    std::printf("embed: exit %d after %.1f ms", result->exit_code,
                std::chrono::duration<double, std::milli>(result->elapsed).count());
    // From the container's cgroup v2, when it had one (spec.limits: 4 GiB and 512 pids by default).
    if (result->memory_peak)
        std::printf(", peak memory %llu bytes", static_cast<unsigned long long>(*result->memory_peak));
    std::printf("\n");
    return result->exit_code;
}
