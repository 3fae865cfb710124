#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include "runtime/sync.hpp"

using namespace cage::sync;

namespace {
std::vector<std::byte> bytes_of(std::string_view text)
{
    std::vector<std::byte> out;
    for (char c : text)
        out.push_back(static_cast<std::byte>(c));
    return out;
}
}  // namespace

TEST_CASE("every message type survives encode and decode")
{
    for (auto type : {MsgType::go, MsgType::pty_master, MsgType::error, MsgType::exited}) {
        Message message{type, 13, 126, 9, std::string("mount\0x", 7), std::string(3000, 'p'), "hint"};
        auto decoded = decode(encode(message));
        REQUIRE(decoded.has_value());
        CHECK(decoded->type == type);
        CHECK(decoded->errnum == 13);
        CHECK(decoded->code == 126);
        CHECK(decoded->signal == 9);
        CHECK(decoded->what == message.what);
        CHECK(decoded->path == message.path);
        CHECK(decoded->hint == "hint");
    }
}

TEST_CASE("malformed messages are refused")
{
    auto good = encode(Message{MsgType::error, 1, 125, 0, "a", "b", "c"});
    CHECK_FALSE(decode(std::span(good).first(10)).has_value());
    auto unknown = good;
    unknown[0] = std::byte{0};
    CHECK_FALSE(decode(unknown).has_value());
    unknown[0] = std::byte{99};
    CHECK_FALSE(decode(unknown).has_value());
    auto trailing = good;
    trailing.push_back(std::byte{1});
    CHECK_FALSE(decode(trailing).has_value());
    auto truncated = good;
    truncated.pop_back();
    CHECK_FALSE(decode(truncated).has_value());
    auto lying = good;
    lying[16] = std::byte{0xff};  // the first string claims to be longer than the message
    CHECK_FALSE(decode(lying).has_value());
    CHECK_FALSE(decode(std::vector<std::byte>(max_message_size + 1)).has_value());
    CHECK_FALSE(decode(bytes_of("")).has_value());
}

TEST_CASE("errors travel as messages and come back the same")
{
    cage::Error error{"mount /proc", 1, "/proc", "do this", 127};
    auto back = to_error(*decode(encode(error_message(error))));
    CHECK(back.what == error.what);
    CHECK(back.errnum == 1);
    CHECK(back.path == "/proc");
    CHECK(back.hint == "do this");
    CHECK(back.exit_code == 127);
}

TEST_CASE("a channel pair carries messages and a descriptor, then reports the peer gone")
{
    auto pair = Channel::pair();
    REQUIRE(pair.has_value());
    auto& [parent, child] = *pair;
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    REQUIRE(child.send(Message{MsgType::pty_master}, pipe_fds[1]).has_value());
    ::close(pipe_fds[1]);
    auto received = parent.receive();
    REQUIRE(received.has_value());
    REQUIRE(received->has_value());
    CHECK((*received)->message.type == MsgType::pty_master);
    REQUIRE((*received)->fd.valid());
    CHECK((::fcntl((*received)->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write((*received)->fd.get(), "x", 1) == 1);
    char c = 0;
    REQUIRE(::read(pipe_fds[0], &c, 1) == 1);
    CHECK(c == 'x');
    ::close(pipe_fds[0]);
    child.close();
    auto end = parent.receive();
    REQUIRE(end.has_value());
    CHECK_FALSE(end->has_value());
}
