#include "image/auth.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "image/fsutil.hpp"
#include "runtime/util.hpp"

namespace cage::image {
namespace {

using Json = nlohmann::json;
constexpr std::size_t max_auth_file = 1u << 20;

std::string lowercase(std::string_view text)
{
    std::string result(text);
    for (auto& c : result)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
}

Expected<Json> parse_auth_file(std::string_view text)
{
    if (text.empty())
        return Json::object();
    Json json = Json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded() || !json.is_object())
        return std::unexpected(plain_error("invalid auth file: not a JSON object"));
    return json;
}

// The login file: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
// ~/.docker/config.json.
std::string login_file()
{
    auto files = auth_files();
    return files.empty() ? std::string() : files.front();
}

Expected<std::string> read_auth_file(const std::string& path)
{
    auto slash = path.find_last_of('/');
    UniqueFd dir(::open(path.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir)
        return std::string();
    auto content = read_bounded(dir.get(), path.substr(slash + 1), max_auth_file);
    if (!content && content.error().errnum == ENOENT)
        return std::string();
    if (!content)
        return std::unexpected(content.error());
    return *content;
}

}  // namespace

std::optional<Challenge> parse_challenge(std::string_view header)
{
    Challenge challenge;
    auto space = header.find(' ');
    challenge.scheme = lowercase(header.substr(0, space));
    if (challenge.scheme != "bearer" && challenge.scheme != "basic")
        return std::nullopt;
    std::string_view rest = space == std::string_view::npos ? std::string_view() : header.substr(space + 1);
    while (!rest.empty()) {
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == ','))
            rest.remove_prefix(1);
        auto equals = rest.find('=');
        if (equals == std::string_view::npos)
            break;
        std::string key = lowercase(rest.substr(0, equals));
        rest.remove_prefix(equals + 1);
        std::string value;
        if (!rest.empty() && rest.front() == '"') {
            rest.remove_prefix(1);
            while (!rest.empty() && rest.front() != '"') {
                if (rest.front() == '\\' && rest.size() > 1)
                    rest.remove_prefix(1);
                value += rest.front();
                rest.remove_prefix(1);
            }
            if (rest.empty())
                return std::nullopt;  // unterminated quote
            rest.remove_prefix(1);
        } else {
            auto end = rest.find(',');
            value = std::string(rest.substr(0, end));
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.pop_back();
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        }
        challenge.params[key] = value;
    }
    return challenge;
}

std::string base64_encode(std::string_view data)
{
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                 reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(length));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
    if (text.size() % 4 != 0 || text.size() > max_auth_file)
        return std::nullopt;
    std::string out(text.size() / 4 * 3 + 1, '\0');
    int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                 reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (length < 0)
        return std::nullopt;
    std::size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
    out.resize(static_cast<std::size_t>(length) - padding);
    return out;
}

std::string normalize_auth_key(std::string_view key)
{
    if (auto scheme = key.find("://"); scheme != std::string_view::npos)
        key.remove_prefix(scheme + 3);
    key = key.substr(0, key.find('/'));
    if (key == "index.docker.io" || key == "registry-1.docker.io")
        return "docker.io";
    return std::string(key);
}

Expected<std::optional<Credentials>> credentials_in(std::string_view text, std::string_view registry)
{
    auto json = CAGE_TRY(parse_auth_file(text));
    auto auths = json.find("auths");
    if (auths == json.end() || !auths->is_object())
        return std::optional<Credentials>();
    for (const auto& [key, entry] : auths->items()) {
        if (normalize_auth_key(key) != registry || !entry.is_object())
            continue;
        auto auth = entry.find("auth");
        if (auth == entry.end() || !auth->is_string())
            continue;
        auto decoded = base64_decode(auth->get<std::string>());
        auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos)
            return std::unexpected(plain_error("invalid auth file entry (auth is not base64 user:password)", key));
        return std::optional<Credentials>(Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)});
    }
    return std::optional<Credentials>();
}

Expected<std::string> with_credentials(std::string_view text, std::string_view registry,
                                       const std::optional<Credentials>& credentials)
{
    auto json = CAGE_TRY(parse_auth_file(text));
    if (!json.contains("auths") || !json["auths"].is_object())
        json["auths"] = Json::object();
    auto& auths = json["auths"];
    std::vector<std::string> matching;
    for (const auto& [key, entry] : auths.items())
        if (normalize_auth_key(key) == registry)
            matching.push_back(key);
    for (const auto& key : matching)
        auths.erase(key);
    if (credentials)
        auths[std::string(registry)] = {{"auth", base64_encode(credentials->username + ":" + credentials->password)}};
    return json.dump(2) + "\n";
}

std::vector<std::string> auth_files()
{
    std::vector<std::string> files;
    if (const char* file = std::getenv("REGISTRY_AUTH_FILE"); file && *file == '/')
        files.emplace_back(file);
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime == '/')
        files.push_back(std::string(runtime) + "/containers/auth.json");
    if (const char* home = std::getenv("HOME"); home && *home == '/')
        files.push_back(std::string(home) + "/.docker/config.json");
    return files;
}

Expected<std::optional<Credentials>> find_credentials(std::string_view registry)
{
    for (const auto& file : auth_files()) {
        auto text = CAGE_TRY(read_auth_file(file));
        auto found = credentials_in(text, registry);
        if (!found) {
            auto error = found.error();
            error.path = file;
            return std::unexpected(error);
        }
        if (*found)
            return found;
    }
    return std::optional<Credentials>();
}

Expected<std::string> save_credentials(std::string_view registry, const Credentials& credentials)
{
    auto file = login_file();
    if (file.empty())
        return std::unexpected(plain_error("no place for credentials: set HOME or XDG_RUNTIME_DIR"));
    auto dir = file.substr(0, file.find_last_of('/'));
    if (!make_host_directories(dir, 0700))
        return std::unexpected(errno_error("create", dir));
    auto text = CAGE_TRY(read_auth_file(file));
    auto updated = CAGE_TRY(with_credentials(text, registry, credentials));
    auto name = file.substr(file.find_last_of('/') + 1);
    mode_t old = ::umask(077);  // the file holds a password
    auto written = write_file_atomic(dir, name, updated);
    ::umask(old);
    if (!written)
        return std::unexpected(written.error());
    return file;
}

Expected<bool> remove_credentials(std::string_view registry)
{
    bool removed = false;
    for (const auto& file : auth_files()) {
        auto text = CAGE_TRY(read_auth_file(file));
        if (text.empty() || !CAGE_TRY(credentials_in(text, registry)))
            continue;
        auto updated = CAGE_TRY(with_credentials(text, registry, std::nullopt));
        auto slash = file.find_last_of('/');
        mode_t old = ::umask(077);
        auto written = write_file_atomic(file.substr(0, slash), file.substr(slash + 1), updated);
        ::umask(old);
        if (!written)
            return std::unexpected(written.error());
        removed = true;
    }
    return removed;
}

}  // namespace cage::image
