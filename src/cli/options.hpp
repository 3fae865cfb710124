// Command-line options of `cage run`, parsed without side effects (unit-tested).
#pragma once

#include <cage/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/options.hpp"

namespace cage::cli {

using sandbox::Volume;
using sandbox::TtyMode;
using sandbox::RunOptions;

// "30s", "15m", "1h", "250ms", or plain seconds.
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);
// "UID" or "UID:GID" (GID defaults to UID).
Expected<std::pair<std::uint32_t, std::uint32_t>> parse_user(std::string_view text);
// "SRC:DST" or "SRC:DST:ro" / ":rw".
Expected<Volume> parse_volume(std::string_view text);

// args: everything after "run". Options end at the first non-option word or at "--".
Expected<RunOptions> parse_run_options(std::span<const std::string> args);

// Sizes: bytes, or a number (decimals allowed) with K, M, G or T (binary: KiB, MiB, GiB,
// TiB; "4G", "4g", "4GiB" and "4GB" are the same). At least 1 byte.
Expected<std::uint64_t> parse_size(std::string_view text);
// CPUs for --cpus: a positive decimal ("0.5", "2"), at most 4096.
Expected<double> parse_cpus(std::string_view text);
// "4 GiB", "512 MiB", "3 KiB", "1000 bytes": exact, in the largest unit that divides.
std::string describe_size(std::uint64_t bytes);
// "4.0 GiB", "37.2 MiB": rounded to one decimal in the largest unit not above it.
std::string describe_amount(std::uint64_t bytes);

extern const char* const run_usage;

// An error in the command line: exit 125 and a pointer to the help.
Error usage_error(std::string what, std::string detail = {});

}  // namespace cage::cli
