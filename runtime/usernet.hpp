// The user-mode network (Network::slirp4netns): the container's own network namespace gets a
// tap device, and slirp4netns, a process on the host's side, turns what the container sends
// through it into connections from the host's own sockets. No privilege is needed, as for
// podman's rootless network. Outbound only: the container is reachable from nowhere, and the
// host's loopback (the 10.0.2.2 gateway would lead there) is refused.
#pragma once

#include <cage/error.hpp>

#include <sys/types.h>

#include <string>
#include <string_view>

#include "runtime/fd.hpp"

namespace cage::usernet {

// Where slirp4netns answers DNS queries (forwarding them to the host's resolvers).
inline constexpr std::string_view dns_server = "10.0.2.3";

// A running slirp4netns; destroying it ends it.
class UserNetwork {
public:
    UserNetwork(const UserNetwork&) = delete;
    UserNetwork& operator=(const UserNetwork&) = delete;
    UserNetwork(UserNetwork&& other) noexcept = default;
    UserNetwork& operator=(UserNetwork&& other) noexcept = default;
    ~UserNetwork();

    // Starts slirp4netns on the network namespace of CONTAINER_PID (its user namespace
    // already mapped). SANDBOX: slirp4netns also confines itself to an empty mount namespace,
    // which an unprivileged caller can only where the container's root is mapped.
    static Expected<UserNetwork> start(pid_t container_pid, bool sandbox);
    // Returns once tap0 is configured (10.0.2.100/24, default route via 10.0.2.2), or with
    // the line of slirp4netns's that says why it is not.
    Expected<void> wait_until_ready();

private:
    UserNetwork(UniqueFd pidfd, UniqueFd exit_fd, UniqueFd ready_fd, UniqueFd output)
        : pidfd_(std::move(pidfd)), exit_fd_(std::move(exit_fd)), ready_fd_(std::move(ready_fd)),
          output_(std::move(output))
    {
    }
    UniqueFd pidfd_;    // of slirp4netns, which is not cage's child
    UniqueFd exit_fd_;  // slirp4netns exits when this closes: also when cage is killed
    UniqueFd ready_fd_;
    UniqueFd output_;   // a memfd with what slirp4netns printed
};

// The line of slirp4netns's output that says why it failed (its own warnings skipped).
std::string failure_line(std::string_view output);

}  // namespace cage::usernet
