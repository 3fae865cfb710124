// runtime/sync: the wire codec and a real SOCK_SEQPACKET channel with fd passing.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/sync.hpp"

using namespace cage::sync;
using cage::UniqueFd;

namespace {

constexpr std::size_t header_size = 16;  // u8 type, u8[3] zero, i32 errnum, i32 code, i32 signal

const MsgType all_types[] = {MsgType::go, MsgType::pty_master, MsgType::error, MsgType::exited, MsgType::seccomp_listener,
                            MsgType::cgroup, MsgType::layer, MsgType::bind, MsgType::network};

std::string with_nuls()
{
    return std::string("a\0b\0\0c\0", 7);
}

void check_same(const Message& a, const Message& b)
{
    CHECK(a.type == b.type);
    CHECK(a.errnum == b.errnum);
    CHECK(a.code == b.code);
    CHECK(a.signal == b.signal);
    CHECK(a.what == b.what);
    CHECK(a.path == b.path);
    CHECK(a.hint == b.hint);
}

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
    Pipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
};

}  // namespace

TEST_CASE("sync: every message type survives encode and decode, NUL bytes and long strings included")
{
    for (auto type : all_types) {
        CAPTURE(static_cast<int>(type));
        Message message{type, 13, 126, 9, with_nuls(), std::string(5000, 'p'), std::string(1, '\0')};
        auto bytes = encode(message);
        CHECK(bytes.size() == header_size + 12 + 7 + 5000 + 1);
        auto decoded = decode(bytes);
        REQUIRE(decoded.has_value());
        check_same(*decoded, message);

        Message empty{type, 0, 0, 0, "", "", ""};
        auto decoded_empty = decode(encode(empty));
        REQUIRE(decoded_empty.has_value());
        check_same(*decoded_empty, empty);
        CHECK(encode(empty).size() == header_size + 12);
    }
}

TEST_CASE("sync: numbers keep their sign and extremes")
{
    Message message{MsgType::exited, -1, INT_MIN, INT_MAX, "w", "p", "h"};
    auto decoded = decode(encode(message));
    REQUIRE(decoded.has_value());
    check_same(*decoded, message);
}

TEST_CASE("sync: the wire layout is as documented")
{
    auto bytes = encode(Message{MsgType::error, 1, 2, 3, "ab", "", "c"});
    REQUIRE(bytes.size() == header_size + 4 + 2 + 4 + 4 + 1);
    CHECK(bytes[0] == std::byte{3});
    CHECK(bytes[1] == std::byte{0});
    CHECK(bytes[2] == std::byte{0});
    CHECK(bytes[3] == std::byte{0});
    std::int32_t value = 0;
    std::memcpy(&value, bytes.data() + 4, 4);
    CHECK(value == 1);
    std::memcpy(&value, bytes.data() + 8, 4);
    CHECK(value == 2);
    std::memcpy(&value, bytes.data() + 12, 4);
    CHECK(value == 3);
    std::uint32_t length = 0;
    std::memcpy(&length, bytes.data() + 16, 4);
    CHECK(length == 2);
    CHECK(bytes[20] == std::byte{'a'});
}

TEST_CASE("sync: a message of exactly the maximum size decodes")
{
    Message message{MsgType::error, 0, 125, 0, std::string(max_message_size - header_size - 12, 'w'), "", ""};
    auto bytes = encode(message);
    CHECK(bytes.size() == max_message_size);
    auto decoded = decode(bytes);
    REQUIRE(decoded.has_value());
    CHECK(decoded->what == message.what);
}

TEST_CASE("sync: decode refuses malformed input")
{
    const auto good = encode(Message{MsgType::error, 1, 125, 0, "what", "path", "hint"});
    REQUIRE(decode(good).has_value());

    SUBCASE("empty and too short")
    {
        CHECK_FALSE(decode(std::span<const std::byte>{}).has_value());
        for (std::size_t n = 0; n < good.size(); ++n) {
            CAPTURE(n);
            CHECK_FALSE(decode(std::span(good).first(n)).has_value());
        }
    }
    SUBCASE("unknown types")
    {
        for (int type : {0, 10, 99, 255}) {
            CAPTURE(type);
            auto bad = good;
            bad[0] = static_cast<std::byte>(type);
            auto decoded = decode(bad);
            REQUIRE_FALSE(decoded.has_value());
            CHECK(decoded.error().what == "malformed message from the container");
        }
    }
    SUBCASE("a string length larger than what follows")
    {
        for (std::size_t at : {header_size, header_size + 4 + 4, header_size + 8 + 4 + 4}) {
            CAPTURE(at);
            auto bad = good;
            bad[at] = std::byte{0xff};
            CHECK_FALSE(decode(bad).has_value());
            bad[at] = std::byte{0};
            bad[at + 3] = std::byte{0xff};  // ~4 GiB claimed
            CHECK_FALSE(decode(bad).has_value());
        }
    }
    SUBCASE("a string length smaller than what follows leaves trailing bytes")
    {
        auto bad = good;
        bad[header_size] = std::byte{3};  // "what" claims 3 bytes of 4
        CHECK_FALSE(decode(bad).has_value());
    }
    SUBCASE("trailing garbage")
    {
        auto bad = good;
        bad.push_back(std::byte{0});
        CHECK_FALSE(decode(bad).has_value());
        bad = good;
        bad.insert(bad.end(), 4, std::byte{0});  // looks like a fourth, empty string
        CHECK_FALSE(decode(bad).has_value());
    }
    SUBCASE("a header without the three strings")
    {
        std::vector<std::byte> header_only(header_size);
        header_only[0] = std::byte{1};
        CHECK_FALSE(decode(header_only).has_value());
        auto two_strings = header_only;
        two_strings.insert(two_strings.end(), 8, std::byte{0});
        CHECK_FALSE(decode(two_strings).has_value());
        two_strings.insert(two_strings.end(), 4, std::byte{0});
        CHECK(decode(two_strings).has_value());  // the smallest valid message
    }
    SUBCASE("oversize")
    {
        std::vector<std::byte> big(max_message_size + 1);
        big[0] = std::byte{1};
        CHECK_FALSE(decode(big).has_value());
        // encode() of a message too large for the protocol yields bytes decode() refuses,
        // never a silently shortened message.
        Message huge{MsgType::error, 0, 125, 0, std::string(max_message_size, 'x'), "p", "h"};
        auto bytes = encode(huge);
        CHECK(bytes.size() <= max_message_size);
        CHECK_FALSE(decode(bytes).has_value());
        Message just_over{MsgType::error, 0, 125, 0, std::string(max_message_size - header_size - 11, 'x'), "", ""};
        CHECK_FALSE(decode(encode(just_over)).has_value());
    }
}

TEST_CASE("sync: error_message and to_error round trip what, errnum, path, hint and exit code")
{
    for (const cage::Error& error : {
             cage::Error{"mount /proc", EPERM, "/proc", "do this", 127},
             cage::Error{"exec", ENOENT, "", "", 127},
             cage::Error{std::string("nul\0inside", 10), 0, std::string(3000, '/'), "h", 125},
             cage::Error{"", 0, "", "", 0},
         }) {
        auto message = error_message(error);
        CHECK(message.type == MsgType::error);
        auto decoded = decode(encode(message));
        REQUIRE(decoded.has_value());
        auto back = to_error(*decoded);
        CHECK(back.what == error.what);
        CHECK(back.errnum == error.errnum);
        CHECK(back.path == error.path);
        CHECK(back.hint == error.hint);
        CHECK(back.exit_code == error.exit_code);
        CHECK(back.message() == error.message());
    }
}

TEST_CASE("sync: a channel pair carries messages in order, both ways")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    CHECK((::fcntl(parent.fd(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(child.fd(), F_GETFD) & FD_CLOEXEC) != 0);

    REQUIRE(parent.send(Message{MsgType::go}).has_value());
    Message failure{MsgType::error, EACCES, 126, 0, with_nuls(), std::string(10000, 'p'), "hint"};
    REQUIRE(child.send(failure).has_value());
    REQUIRE(child.send(Message{MsgType::exited, 0, 137, 9, "", "", ""}).has_value());

    auto go = child.receive();
    REQUIRE(go.has_value());
    REQUIRE(go->has_value());
    CHECK((*go)->message.type == MsgType::go);
    CHECK_FALSE((*go)->fd.valid());

    auto first = parent.receive();
    REQUIRE(first.has_value());
    REQUIRE(first->has_value());
    check_same((*first)->message, failure);
    CHECK_FALSE((*first)->fd.valid());
    auto second = parent.receive();
    REQUIRE(second.has_value());
    REQUIRE(second->has_value());
    CHECK((*second)->message.type == MsgType::exited);
    CHECK((*second)->message.signal == 9);
    CHECK((*second)->message.code == 137);
}

TEST_CASE("sync: a passed descriptor arrives CLOEXEC and refers to the same pipe")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    Pipe pipe;
    REQUIRE(child.send(Message{MsgType::pty_master}, pipe.write_end.get()).has_value());
    pipe.write_end.reset();  // the only write end left is the one in flight

    auto received = parent.receive();
    REQUIRE(received.has_value());
    REQUIRE(received->has_value());
    CHECK((*received)->message.type == MsgType::pty_master);
    REQUIRE((*received)->fd.valid());
    CHECK((::fcntl((*received)->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write((*received)->fd.get(), "xyz", 3) == 3);
    char buffer[4] = {};
    REQUIRE(::read(pipe.read_end.get(), buffer, 3) == 3);
    CHECK(std::string(buffer) == "xyz");
    // Closing the received descriptor closes the last write end: the reader sees EOF.
    (*received)->fd.reset();
    CHECK(::read(pipe.read_end.get(), buffer, 1) == 0);
}

TEST_CASE("sync: receive reports the peer gone as nullopt, after what it had sent")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    REQUIRE(child.send(Message{MsgType::exited, 0, 3, 0, "", "", ""}).has_value());
    child.close();
    CHECK(child.fd() == -1);

    auto pending = parent.receive();
    REQUIRE(pending.has_value());
    REQUIRE(pending->has_value());
    CHECK((*pending)->message.code == 3);
    for (int i = 0; i < 2; ++i) {
        auto end = parent.receive();
        REQUIRE(end.has_value());
        CHECK_FALSE(end->has_value());
    }
}

TEST_CASE("sync: a peer that leaves a message unread still delivers what it had sent")
{
    // pid 1 fails and exits while cage's "cgroup" message waits in its queue: the kernel
    // resets the connection, and the error pid 1 sent must still reach cage.
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    REQUIRE(child.send(Message{MsgType::error, EACCES, 125, 0, "build the root", "/dev", ""}).has_value());
    REQUIRE(parent.send(Message{MsgType::cgroup}).has_value());
    child.close();

    auto pending = parent.receive();
    REQUIRE(pending.has_value());
    REQUIRE(pending->has_value());
    CHECK((*pending)->message.type == MsgType::error);
    CHECK((*pending)->message.path == "/dev");
    auto end = parent.receive();
    REQUIRE(end.has_value());
    CHECK_FALSE(end->has_value());
}

TEST_CASE("sync: send to a closed peer fails with EPIPE and does not kill the sender")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    child.close();
    // In a child process with SIGPIPE at its default action (the test runner may ignore it).
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGPIPE, SIG_DFL);
        auto sent = parent.send(Message{MsgType::go});
        ::_exit(!sent.has_value() && sent.error().errnum == EPIPE ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const bool killed = WIFSIGNALED(status);
    CHECK_FALSE(killed);
    const bool exited = WIFEXITED(status);
    REQUIRE(exited);
    const int exit_status = WEXITSTATUS(status);
    CHECK(exit_status == 0);  // send reported EPIPE
}

TEST_CASE("sync: an oversize message is refused by the receiver and the channel stays usable")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    REQUIRE(child.send(Message{MsgType::error, 0, 125, 0, std::string(2 * max_message_size, 'x'), "", ""})
                .has_value());
    REQUIRE(child.send(Message{MsgType::go}).has_value());
    auto refused = parent.receive();
    CHECK_FALSE(refused.has_value());
    auto next = parent.receive();
    REQUIRE(next.has_value());
    REQUIRE(next->has_value());
    CHECK((*next)->message.type == MsgType::go);
}

TEST_CASE("sync: a malformed datagram is an error, and a descriptor it carried is closed")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    Pipe pipe;

    // A raw datagram with an unknown type and a descriptor attached.
    std::vector<std::byte> garbage(header_size + 12);
    garbage[0] = std::byte{99};
    iovec iov{garbage.data(), garbage.size()};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = pipe.write_end.get();
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    REQUIRE(::sendmsg(child.fd(), &header, MSG_NOSIGNAL) == static_cast<ssize_t>(garbage.size()));
    pipe.write_end.reset();

    auto received = parent.receive();
    REQUIRE_FALSE(received.has_value());
    CHECK(received.error().what == "malformed message from the container");
    // No copy of the write end survives in this process: the reader sees EOF, not a hang.
    REQUIRE(::fcntl(pipe.read_end.get(), F_SETFL, O_NONBLOCK) == 0);
    char c = 0;
    CHECK(::read(pipe.read_end.get(), &c, 1) == 0);
}
