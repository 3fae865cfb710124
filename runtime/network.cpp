#include "runtime/network.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "runtime/fd.hpp"

namespace cage::network {

Expected<void> bring_up_loopback()
{
    UniqueFd socket_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket_fd)
        return std::unexpected(errno_error("open a socket to configure loopback"));
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(socket_fd.get(), SIOCGIFFLAGS, &request) < 0)
        return std::unexpected(errno_error("read the loopback interface flags", "lo"));
    if (request.ifr_flags & IFF_UP)
        return {};
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(socket_fd.get(), SIOCSIFFLAGS, &request) < 0)
        return std::unexpected(errno_error("bring up the loopback interface", "lo"));
    return {};
}

}  // namespace cage::network
