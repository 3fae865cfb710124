#include "sandbox/warn_once.hpp"

#include <sys/stat.h>

#include <cstdio>

#include "image/fsutil.hpp"
#include "runtime/util.hpp"
#include "sandbox/audit.hpp"

namespace cage::sandbox {

bool first_time(const std::string& dir, const std::string& marker, const std::string& text)
{
    struct stat st{};
    if (::lstat((dir + "/" + marker).c_str(), &st) == 0)
        return false;
    if (make_host_directories(dir, 0700))
        (void)image::write_file_atomic(dir, marker, text + "\n");  // unwritable: said again next time
    return true;
}

std::function<void(const std::string&)> limits_warning(bool asked_for_limits)
{
    return [asked_for_limits](const std::string& text) {
        if (asked_for_limits || first_time(state_dir(), limits_marker, text))
            std::fprintf(stderr, "cage: warning: %s\n", text.c_str());
    };
}

}  // namespace cage::sandbox
