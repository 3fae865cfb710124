// The typed parent/child protocol over one SOCK_SEQPACKET socketpair.
//
// One datagram is one message; a message may carry one file descriptor (SCM_RIGHTS).
//   parent -> child   layer         one layer of the root, idmapped (root only; before "go")
//   parent -> child   go            uid/gid maps are written; start building the container
//   parent -> child   bind          one bind source, idmapped (root, shifted maps; after "go")
//   parent -> child   cgroup        the cgroup made after clone3 (its "tasks" file: pid 1 enters it)
//   parent -> child   network       the user-mode network is up (slirp4netns): start the command
//   child  -> parent  pty_master    the master side of the pty opened in the container's devpts
//   child  -> parent  error         a failure inside the container, as a structured cage::Error
//   child  -> parent  exited        pid 1 saw the command end (exit code or signal)
//   child  -> parent  seccomp_listener  the command's seccomp notification fd (audit)
#pragma once

#include <cage/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/fd.hpp"

namespace cage::sync {

enum class MsgType : std::uint8_t {
    go = 1,
    pty_master = 2,
    error = 3,
    exited = 4,
    seccomp_listener = 5,
    cgroup = 6,
    layer = 7,
    bind = 8,
    network = 9,
};

struct Message {
    MsgType type = MsgType::go;
    std::int32_t errnum = 0;
    std::int32_t code = 0;    // exit code: of cage's error (125/126/127) or of the command
    std::int32_t signal = 0;  // exited: the signal that killed the command
    std::string what;
    std::string path;
    std::string hint;
};

inline constexpr std::size_t max_message_size = 16 * 1024;

// Pure codec, unit-tested. decode() rejects anything malformed.
std::vector<std::byte> encode(const Message& message);
Expected<Message> decode(std::span<const std::byte> bytes);

Message error_message(const Error& error);
Error to_error(const Message& message);

struct Received {
    Message message;
    UniqueFd fd;  // the passed descriptor, if any
};

// One end of the socketpair.
class Channel {
public:
    Channel() = default;
    explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}

    // Returns a connected pair: [0] for the parent, [1] for the child. Both are CLOEXEC.
    static Expected<std::pair<Channel, Channel>> pair();

    Expected<void> send(const Message& message, int pass_fd = -1) const;
    // std::nullopt on orderly shutdown (the peer is gone).
    Expected<std::optional<Received>> receive() const;

    int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }

private:
    UniqueFd fd_;
};

}  // namespace cage::sync
