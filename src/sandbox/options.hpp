// What a user asks of one sandbox run: filled by the CLI (or an embedder), turned into a
// runtime::Spec by sandbox.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <cage/spec.hpp>

namespace cage::sandbox {

struct Volume {
    std::string source;
    std::string destination;
    bool read_only = false;
    bool operator==(const Volume&) const = default;
};

enum class TtyMode { automatic, never };

struct RunOptions {
    std::string rootfs;
    std::optional<std::string> image;  // a stored image, instead of --rootfs
    // The image came from the first word (cage run WORD ...), not --image: WORD may instead
    // be a command whose agent profile names the image (cli/run_target.hpp decides).
    bool image_from_word = false;
    // Replaces the image's Entrypoint (empty: none, COMMAND is the whole command line).
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::string> workspace;  // default: the current directory
    std::string workdir = "/work";
    bool workdir_given = false;  // --workdir was given (else an image's WorkingDir applies)
    std::vector<Volume> volumes;
    std::uint32_t uid = 1000;
    std::uint32_t gid = 1000;
    bool user_given = false;  // --user was given (else an image's User applies)
    std::optional<std::string> hostname;
    std::optional<std::string> name;
    std::optional<runtime::Network> network;  // --network
    // The agent profile's network, used without --network where it can be (else none, with a
    // warning): see usable_network in sandbox.hpp.
    runtime::Network profile_network = runtime::Network::none;
    // The agent profile's variables taken from the caller's environment when set there (as
    // --env NAME, which, like --env NAME=VALUE, wins over them).
    std::vector<std::string> profile_env;
    std::vector<std::string> env;  // K=V, or K (copied from the host)
    bool read_write = false;
    bool keep = false;
    std::chrono::milliseconds timeout{0};
    std::string seccomp = "default";  // a built-in profile, "unconfined", or a file
    TtyMode tty = TtyMode::automatic;
    // The agent profile whose persistent home is mounted at /home/agent (see home.hpp); empty:
    // none. The CLI chooses it from the command (config/profiles.hpp).
    std::string profile;
    bool ephemeral_home = false;  // --ephemeral-home: no persistent home
    bool help = false;
    std::vector<std::string> command;
    // --memory, --memory-swap, --pids, --cpus, --io-weight (given ones are required), and
    // --best-effort-limits (none is required).
    runtime::Limits limits;
    bool best_effort_limits = false;
};

}  // namespace cage::sandbox
