// cage pull, cage login, cage logout: images from registries.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "image/auth.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"

namespace cage::cli {
namespace {

constexpr const char* pull_usage =
    "Usage: cage pull [--insecure] [--arch ARCH] REF\n"
    "\n"
    "Download an image from a registry into the store. REF is NAME[:TAG] or NAME@sha256:DIGEST;\n"
    "a name without a registry is on docker.io (alpine = docker.io/library/alpine:latest).\n"
    "Credentials come from 'cage login' (or docker's and podman's auth files). Every blob is\n"
    "verified against its digest; an interrupted pull resumes from the blobs it completed.\n"
    "\n"
    "  --insecure   allow plain HTTP and unverified TLS (always allowed: localhost, 127.0.0.1)\n"
    "  --arch ARCH  the variant of a multi-platform image (default: this machine's)\n";
constexpr const char* login_usage =
    "Usage: cage login [-u USER] [-p PASSWORD | --password-stdin] [--insecure] REGISTRY\n"
    "\n"
    "Check credentials against REGISTRY and store them ($REGISTRY_AUTH_FILE, else\n"
    "$XDG_RUNTIME_DIR/containers/auth.json, else ~/.docker/config.json; mode 0600).\n";
constexpr const char* logout_usage =
    "Usage: cage logout REGISTRY\n"
    "\n"
    "Remove the stored credentials of REGISTRY from every auth file cage reads.\n";

int usage_failure(const char* usage)
{
    std::fputs(usage, stderr);
    return exit_cage_error;
}

bool is_help(std::span<const std::string> args)
{
    return !args.empty() && (args[0] == "-h" || args[0] == "--help");
}

// "docker.io" for "docker.io", "https://index.docker.io/v1/", "alpine" is not a registry.
std::string registry_argument(const std::string& text)
{
    return image::normalize_auth_key(text);
}

std::string read_secret(const char* prompt)
{
    std::string line;
    termios saved{};
    bool terminal = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (terminal) {
        std::fputs(prompt, stderr);
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::getline(std::cin, line);
    if (terminal) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        std::fputs("\n", stderr);
    }
    return line;
}

}  // namespace

int cmd_pull(std::span<const std::string> args)
{
    if (is_help(args)) {
        std::fputs(pull_usage, stdout);
        return 0;
    }
    image::PullOptions options;
    std::string text;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--insecure")
            options.insecure = true;
        else if (args[i] == "--arch" && i + 1 < args.size())
            options.architecture = args[++i];
        else if (args[i].starts_with("-") || !text.empty())
            return usage_failure(pull_usage);
        else
            text = args[i];
    }
    if (text.empty())
        return usage_failure(pull_usage);
    auto reference = image::parse_reference(text);
    if (!reference)
        return report_failure(reference.error());
    auto store = image::Store::open_default();
    if (!store)
        return report_failure(store.error());
    if (auto locked = store->lock(); !locked)
        return report_failure(locked.error());
    options.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    auto pulled = image::pull(*store, *reference, options);
    if (!pulled)
        return report_failure(pulled.error());
    std::printf("%s\n", pulled->c_str());
    return 0;
}

int cmd_login(std::span<const std::string> args)
{
    if (is_help(args)) {
        std::fputs(login_usage, stdout);
        return 0;
    }
    image::Credentials credentials;
    bool password_given = false, password_stdin = false, insecure = false;
    std::string registry;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-u" || args[i] == "--username") && i + 1 < args.size()) {
            credentials.username = args[++i];
        } else if ((args[i] == "-p" || args[i] == "--password") && i + 1 < args.size()) {
            credentials.password = args[++i];
            password_given = true;
        } else if (args[i] == "--password-stdin") {
            password_stdin = true;
        } else if (args[i] == "--insecure") {
            insecure = true;
        } else if (args[i].starts_with("-") || !registry.empty()) {
            return usage_failure(login_usage);
        } else {
            registry = registry_argument(args[i]);
        }
    }
    if (registry.empty() || (password_given && password_stdin))
        return usage_failure(login_usage);
    if (credentials.username.empty()) {
        if (password_stdin)
            return report_failure(plain_error("--password-stdin needs -u USER"));
        std::fputs("Username: ", stderr);
        std::getline(std::cin, credentials.username);
    }
    if (!password_given)
        credentials.password = read_secret("Password: ");
    if (credentials.username.empty() || credentials.username.find(':') != std::string::npos)
        return report_failure(plain_error("invalid user name (empty, or with a ':')"));
    if (auto checked = image::check_login(registry, credentials, insecure); !checked)
        return report_failure(checked.error());
    auto file = image::save_credentials(registry, credentials);
    if (!file)
        return report_failure(file.error());
    std::printf("Login succeeded: %s (credentials in %s)\n", registry.c_str(), file->c_str());
    return 0;
}

int cmd_logout(std::span<const std::string> args)
{
    if (is_help(args)) {
        std::fputs(logout_usage, stdout);
        return 0;
    }
    if (args.size() != 1 || args[0].starts_with("-"))
        return usage_failure(logout_usage);
    auto registry = registry_argument(args[0]);
    auto removed = image::remove_credentials(registry);
    if (!removed)
        return report_failure(removed.error());
    if (!*removed)
        return report_failure(plain_error("not logged in", registry));
    std::printf("Removed login credentials for %s\n", registry.c_str());
    return 0;
}

}  // namespace cage::cli
