#include <cage/error.hpp>

#include <cerrno>
#include <cstring>

namespace cage {

std::string Error::message() const
{
    std::string line = what;
    if (errnum != 0) {
        line += ": ";
        line += std::strerror(errnum);
    }
    if (!path.empty())
        line += " [" + path + "]";
    if (!hint.empty())
        line += "; " + hint;
    return line;
}

Error errno_error(std::string what, std::string path)
{
    return Error{std::move(what), errno, std::move(path), {}, exit_cage_error};
}

Error plain_error(std::string what, std::string path, std::string hint)
{
    return Error{std::move(what), 0, std::move(path), std::move(hint), exit_cage_error};
}

}  // namespace cage
