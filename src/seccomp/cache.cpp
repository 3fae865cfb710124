// The compiled-filter cache: one file per profile text, so a warm start neither parses YAML
// nor runs libseccomp (together about 2 ms for the default profile).
//
// File layout: "CAGEBPF1", the 32-byte key, the SHA-256 of the program, the program. A file
// is used only when all of it checks out: a torn write could otherwise leave a shorter
// program that the kernel would accept, and allow what the rest of it refused.
#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "runtime/fd.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/util.hpp"
#include "seccomp/profile.hpp"
#include "util/sha256.hpp"

namespace cage::profile {
namespace {

using Digest = Sha256Digest;
constexpr std::string_view magic = "CAGEBPF1";

std::string_view bytes_of(const Digest& digest)
{
    return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

Digest cache_key(const ProfileText& profile)
{
    const scmp_version* library = seccomp_version();
    std::string material = "cage " CAGE_VERSION "\n";
    material += "libseccomp " + std::to_string(library->major) + "." + std::to_string(library->minor) + "." +
                std::to_string(library->micro) + "\n";
    material += "arch " + std::to_string(seccomp_arch_native()) + "\n";
    material += "format " + std::to_string(seccomp::program_format) + "\n";
    material += profile.text;
    return sha256(material);
}

std::optional<seccomp::Filter> read_cached(const std::string& path, const Digest& key)
{
    auto content = read_small_file(path);
    std::size_t header = magic.size() + 2 * key.size();
    if (!content || content->size() <= header || !content->starts_with(magic))
        return std::nullopt;
    std::string_view view(*content);
    auto program = view.substr(header);
    if (view.substr(magic.size(), key.size()) != bytes_of(key) ||
        view.substr(magic.size() + key.size(), key.size()) != bytes_of(sha256(program)))
        return std::nullopt;
    seccomp::Filter filter;
    filter.program.assign(program.begin(), program.end());
    if (!seccomp::check_loadable(filter))
        return std::nullopt;
    return filter;
}

// Best effort: a cache that cannot be written only costs the next start a compile.
void write_cached(const std::string& path, const Digest& key, const seccomp::Filter& filter)
{
    std::string_view program(reinterpret_cast<const char*>(filter.program.data()), filter.program.size());
    std::string content(magic);
    content.append(bytes_of(key)).append(bytes_of(sha256(program))).append(program);

    std::string temporary = path + ".tmp." + std::to_string(::getpid());
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd)
        return;
    bool written = ::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                   ::fsync(fd.get()) == 0;
    fd.reset();
    if (!written || ::rename(temporary.c_str(), path.c_str()) < 0)
        ::unlink(temporary.c_str());
}

// The cache is trusted only in a directory that belongs to us and that nobody else can write:
// an entry planted by someone else would be a filter of their choosing.
bool private_directory(const std::string& dir)
{
    struct stat st{};
    // Look before creating: on a warm start the directory is there, and one lstat is
    // cheaper than a mkdir per path component.
    if (::lstat(dir.c_str(), &st) < 0 && (!make_host_directories(dir, 0700) || ::lstat(dir.c_str(), &st) < 0))
        return false;
    return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

}  // namespace

Expected<seccomp::Filter> compiled_filter(const ProfileText& profile, const std::string& cache_dir)
{
    auto key = cache_key(profile);
    std::string dir = cache_dir.empty() ? std::string() : cache_dir + "/seccomp";
    if (!dir.empty() && !private_directory(dir))
        dir.clear();
    std::string path = dir + "/" + to_hex(key) + ".bpf";
    if (!dir.empty())
        if (auto cached = read_cached(path, key))
            return *cached;
    auto policy = CAGE_TRY(parse_seccomp_profile(profile));
    auto filter = seccomp::compile(policy);
    if (!filter) {
        auto error = filter.error();
        error.path = error.path.empty() ? profile.origin : profile.origin + ": " + error.path;
        return std::unexpected(error);
    }
    if (!dir.empty())
        write_cached(path, key, *filter);
    return *filter;
}

}  // namespace cage::profile

namespace cage::seccomp {

Expected<Filter> builtin_filter(const std::string& name)
{
    auto text = profile::builtin_seccomp_profile(name);
    if (!text)
        return std::unexpected(plain_error("unknown built-in seccomp profile '" + name + "'", {}, "use default or strict"));
    return profile::compiled_filter({"builtin:" + name, *text}, {});
}

}  // namespace cage::seccomp
