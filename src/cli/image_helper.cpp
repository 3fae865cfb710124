// The verbs that fetch and unpack images (pull, import, login, logout) run in cage-image, a
// helper executable beside cage: they need libcurl and libarchive, shared libraries with
// dozens of their own that cage would otherwise load at every container start (about 20 ms),
// and it keeps the parsing of untrusted archives and HTTP out of the process that starts
// containers.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cage/cage.hpp>

#include "cli/commands.hpp"

namespace cage::cli {
namespace {

}  // namespace

std::string path_of_this_binary()
{
    // Re-executed from a sealed copy or a read-only bind (CVE-2019-5736), /proc/self/exe no
    // longer names the file cage was started from; the sealing step left its path here.
    if (const char* sealed_from = std::getenv(sealed_from_variable); sealed_from && sealed_from[0] == '/')
        return sealed_from;
    char self[PATH_MAX];
    ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string path = length > 0 ? std::string(self, static_cast<std::size_t>(length)) : "";
    // A sealed memfd copy shows as "/memfd:cage (deleted)": no path another process can run.
    return path.starts_with('/') && !path.starts_with("/memfd:") ? path : "";
}

std::string directory_of_this_binary()
{
    auto path = path_of_this_binary();
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string image_helper_path()
{
    auto beside = directory_of_this_binary() + "/cage-image";
    if (::access(beside.c_str(), X_OK) == 0)
        return beside;
    return CAGE_LIBEXECDIR "/cage-image";
}

int run_image_helper(int argc, char** argv)
{
    auto helper = image_helper_path();
    std::vector<char*> args{const_cast<char*>(helper.c_str())};
    args.insert(args.end(), argv + 1, argv + argc);
    args.push_back(nullptr);
    ::execv(helper.c_str(), args.data());
    std::fprintf(stderr, "cage: cannot run the image helper: %s [%s]; reinstall cage (it installs cage-image)\n",
                 std::strerror(errno), helper.c_str());
    return exit_cage_error;
}

}  // namespace cage::cli

namespace cage::cli {

int report_failure(const Error& error)
{
    if (!error.what.empty())
        std::fprintf(stderr, "cage: %s\n", error.message().c_str());
    return error.exit_code;
}

}  // namespace cage::cli
