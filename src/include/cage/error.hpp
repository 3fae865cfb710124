// libcage: the one error type, and Expected<T> built on std::expected.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace cage {

// Exit statuses cage uses for its own outcomes (the command's own status passes through).
inline constexpr int exit_timeout = 124;
inline constexpr int exit_cage_error = 125;
inline constexpr int exit_not_executable = 126;
inline constexpr int exit_not_found = 127;

// What failed, why (errno), and the path or object involved. message() renders the one line
// the CLI prints: "<what>: <why> [<path>]", followed by the hint when there is one.
struct Error {
    std::string what;
    int errnum = 0;
    std::string path;
    std::string hint;
    int exit_code = exit_cage_error;

    std::string message() const;
};

template <class T>
using Expected = std::expected<T, Error>;

// An error from the errno of the call that just failed.
Error errno_error(std::string what, std::string path = {});
// An error that is not a failed system call.
Error plain_error(std::string what, std::string path = {}, std::string hint = {});

}  // namespace cage

// Propagate an error from an Expected<T> expression, otherwise yield its value.
#define CAGE_TRY(expr)                                                  \
    __extension__({                                                     \
        auto&& cage_try_result_ = (expr);                               \
        if (!cage_try_result_)                                          \
            return std::unexpected(std::move(cage_try_result_).error()); \
        *std::move(cage_try_result_);                                   \
    })
