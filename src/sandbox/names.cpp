// Sandbox names: checked and made up. A file of their own: the build's agent profile compiler
// (src/config/compile_agents.cpp) checks profile names with them.
#include <sys/random.h>
#include <unistd.h>

#include "sandbox/sandbox.hpp"

namespace cage::sandbox {

bool valid_name(std::string_view name)
{
    if (name.empty() || name.size() > 63)
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '.')))
            return false;
    }
    return true;
}

std::string random_name()
{
    unsigned char bytes[3] = {};
    if (::getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes))
        bytes[0] = static_cast<unsigned char>(::getpid());
    static constexpr char hex[] = "0123456789abcdef";
    std::string name = "cage-";
    for (unsigned char byte : bytes) {
        name += hex[byte >> 4];
        name += hex[byte & 15];
    }
    return name;
}

}  // namespace cage::sandbox
