// Running a helper program (the image builder, cage-image) and waiting for it.
#pragma once

#include <cage/error.hpp>

#include <string>
#include <vector>

namespace cage::cli {

struct ProgramResult {
    int status = 0;       // its exit status, or 128+N when signal N killed it
    std::string output;   // what it wrote to stdout (when captured), trailing newlines removed
};

// Runs ARGV (argv[0] is a path), with stdin and stderr shared; stdout is captured when asked,
// else shared too.
Expected<ProgramResult> run_program(const std::vector<std::string>& argv, bool capture_stdout);

}  // namespace cage::cli
