// The verbs that fetch and unpack images (pull, import, login, logout) run in cage-image, a
// helper executable beside cage: they need libcurl and libarchive, shared libraries with
// dozens of their own that cage would otherwise load at every container start (about 20 ms),
// and it keeps the parsing of untrusted archives and HTTP out of the process that starts
// containers.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cage/error.hpp>

#include "cli/commands.hpp"

namespace cage::cli {
namespace {

std::string directory_of_this_binary()
{
    char self[PATH_MAX];
    ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (length <= 0)
        return {};
    std::string path(self, static_cast<std::size_t>(length));
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Beside cage (a build tree, or both in one directory), else where meson installs it.
std::string helper_path()
{
    auto beside = directory_of_this_binary() + "/cage-image";
    if (::access(beside.c_str(), X_OK) == 0)
        return beside;
    return CAGE_LIBEXECDIR "/cage-image";
}

}  // namespace

int run_image_helper(int argc, char** argv)
{
    auto helper = helper_path();
    std::vector<char*> args{const_cast<char*>(helper.c_str())};
    args.insert(args.end(), argv + 1, argv + argc);
    args.push_back(nullptr);
    ::execv(helper.c_str(), args.data());
    std::fprintf(stderr, "cage: cannot run the image helper: %s [%s]; reinstall cage (it installs cage-image)\n",
                 std::strerror(errno), helper.c_str());
    return exit_cage_error;
}

}  // namespace cage::cli
