#include "runtime/util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "runtime/fd.hpp"

namespace cage {

std::optional<std::string> read_small_file(int fd)
{
    std::string content;
    char chunk[4096];
    ssize_t got;
    while ((got = ::read(fd, chunk, sizeof(chunk))) > 0) {
        content.append(chunk, static_cast<std::size_t>(got));
        if (content.size() > (1u << 20))
            return std::nullopt;
    }
    if (got < 0)
        return std::nullopt;
    return content;
}

std::optional<std::string> read_small_file(const std::string& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    return read_small_file(fd.get());
}

std::vector<std::string> path_candidates(std::string_view search_path, const std::string& program)
{
    std::vector<std::string> candidates;
    while (true) {
        auto colon = search_path.find(':');
        auto dir = search_path.substr(0, colon);
        candidates.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + program);
        if (colon == std::string_view::npos)
            return candidates;
        search_path.remove_prefix(colon + 1);
    }
}

std::string find_in_path(const std::string& program)
{
    const char* env = std::getenv("PATH");
    for (const auto& candidate : path_candidates(env && *env ? env : "/usr/bin:/bin", program))
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    return {};
}

bool make_host_directories(const std::string& path, unsigned mode)
{
    for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
        auto prefix = path.substr(0, slash);
        if (::mkdir(prefix.c_str(), mode) < 0 && errno != EEXIST)
            return false;
        if (slash == std::string::npos)
            return true;
    }
}

bool kernel_at_least(const std::string& wanted)
{
    utsname uts{};
    if (::uname(&uts) < 0)
        return false;
    unsigned have_major = 0, have_minor = 0, want_major = 0, want_minor = 0;
    std::sscanf(uts.release, "%u.%u", &have_major, &have_minor);
    std::sscanf(wanted.c_str(), "%u.%u", &want_major, &want_minor);
    return have_major > want_major || (have_major == want_major && have_minor >= want_minor);
}

}  // namespace cage
