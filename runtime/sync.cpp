#include "runtime/sync.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace cage::sync {
namespace {

// Wire format (host byte order; both ends are the same binary):
//   u8 type, u8[3] zero, i32 errnum, i32 code, i32 signal, then what, path, hint as u32 length + bytes.
constexpr std::size_t header_size = 16;

void put_u32(std::vector<std::byte>& out, std::uint32_t value)
{
    std::array<std::byte, 4> raw{};
    std::memcpy(raw.data(), &value, 4);
    out.insert(out.end(), raw.begin(), raw.end());
}

void put_string(std::vector<std::byte>& out, const std::string& text)
{
    put_u32(out, static_cast<std::uint32_t>(text.size()));
    const auto* begin = reinterpret_cast<const std::byte*>(text.data());
    out.insert(out.end(), begin, begin + text.size());
}

std::int32_t get_i32(std::span<const std::byte> bytes, std::size_t offset)
{
    std::int32_t value = 0;
    std::memcpy(&value, bytes.data() + offset, 4);
    return value;
}

bool get_string(std::span<const std::byte> bytes, std::size_t& offset, std::string& out)
{
    if (bytes.size() - offset < 4)
        return false;
    std::uint32_t length = 0;
    std::memcpy(&length, bytes.data() + offset, 4);
    offset += 4;
    if (bytes.size() - offset < length)
        return false;
    out.assign(reinterpret_cast<const char*>(bytes.data() + offset), length);
    offset += length;
    return true;
}

bool known_type(std::uint8_t type)
{
    return type >= static_cast<std::uint8_t>(MsgType::go) &&
           type <= static_cast<std::uint8_t>(MsgType::network);
}

}  // namespace

std::vector<std::byte> encode(const Message& message)
{
    std::vector<std::byte> out;
    out.reserve(header_size + 12 + message.what.size() + message.path.size() + message.hint.size());
    out.push_back(static_cast<std::byte>(message.type));
    out.insert(out.end(), 3, std::byte{0});
    put_u32(out, static_cast<std::uint32_t>(message.errnum));
    put_u32(out, static_cast<std::uint32_t>(message.code));
    put_u32(out, static_cast<std::uint32_t>(message.signal));
    put_string(out, message.what);
    put_string(out, message.path);
    put_string(out, message.hint);
    if (out.size() > max_message_size)
        out.resize(max_message_size);  // decode() refuses it: a bug, never silently half-read
    return out;
}

Expected<Message> decode(std::span<const std::byte> bytes)
{
    auto malformed = [] { return std::unexpected(plain_error("malformed message from the container")); };
    if (bytes.size() < header_size || bytes.size() > max_message_size)
        return malformed();
    auto type = static_cast<std::uint8_t>(bytes[0]);
    if (!known_type(type) || bytes[1] != std::byte{0} || bytes[2] != std::byte{0} || bytes[3] != std::byte{0})
        return malformed();
    Message message;
    message.type = static_cast<MsgType>(type);
    message.errnum = get_i32(bytes, 4);
    message.code = get_i32(bytes, 8);
    message.signal = get_i32(bytes, 12);
    std::size_t offset = header_size;
    if (!get_string(bytes, offset, message.what) || !get_string(bytes, offset, message.path) ||
        !get_string(bytes, offset, message.hint) || offset != bytes.size())
        return malformed();
    return message;
}

Message error_message(const Error& error)
{
    Message message;
    message.type = MsgType::error;
    message.errnum = error.errnum;
    message.code = error.exit_code;
    message.what = error.what;
    message.path = error.path;
    message.hint = error.hint;
    return message;
}

Error to_error(const Message& message)
{
    return Error{message.what, message.errnum, message.path, message.hint, message.code};
}

Expected<std::pair<Channel, Channel>> Channel::pair()
{
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        return std::unexpected(errno_error("create the parent/child socket pair"));
    return std::pair{Channel(UniqueFd(fds[0])), Channel(UniqueFd(fds[1]))};
}

Expected<void> Channel::send(const Message& message, int pass_fd) const
{
    auto bytes = encode(message);
    iovec iov{bytes.data(), bytes.size()};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
        header.msg_control = control;
        header.msg_controllen = sizeof(control);
        cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    ssize_t sent;
    do {
        sent = ::sendmsg(fd_.get(), &header, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return std::unexpected(errno_error("send to the container's supervisor"));
    return {};
}

Expected<std::optional<Received>> Channel::receive() const
{
    std::vector<std::byte> buffer(max_message_size + 1);
    iovec iov{buffer.data(), buffer.size()};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    ssize_t got;
    bool reset_reported = false;
    do {
        got = ::recvmsg(fd_.get(), &header, MSG_CMSG_CLOEXEC);
        // A peer that closes with a message of ours unread resets the connection, and the
        // kernel reports that once, ahead of what the peer had sent: read on for that.
    } while (got < 0 && (errno == EINTR || (errno == ECONNRESET && !std::exchange(reset_reported, true))));
    if (got < 0)
        return std::unexpected(errno_error("receive from the container"));
    if (got == 0)
        return std::nullopt;
    Received received;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
            received.fd.reset(fd);
        }
    }
    if (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return std::unexpected(plain_error("truncated message from the container"));
    buffer.resize(static_cast<std::size_t>(got));
    received.message = CAGE_TRY(decode(buffer));
    return received;
}

}  // namespace cage::sync
