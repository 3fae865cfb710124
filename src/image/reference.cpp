#include "image/reference.hpp"

#include "image/digest.hpp"

namespace cage::image {
namespace {

constexpr std::size_t max_name = 255;
constexpr std::size_t max_tag = 128;

bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'.
bool valid_component(std::string_view part)
{
    if (part.empty() || !lower_alnum(part.front()) || !lower_alnum(part.back()))
        return false;
    for (std::size_t i = 0; i < part.size(); ++i) {
        char c = part[i];
        if (lower_alnum(c) || c == '-')
            continue;
        if (c == '.' || c == '_') {
            bool double_underscore = c == '_' && i + 1 < part.size() && part[i + 1] == '_';
            if (double_underscore)
                ++i;
            if (!lower_alnum(part[i + 1]))
                return false;
            continue;
        }
        return false;
    }
    return true;
}

bool valid_repository(std::string_view repository)
{
    if (repository.empty())
        return false;
    std::size_t start = 0;
    for (;;) {
        auto slash = repository.find('/', start);
        if (!valid_component(repository.substr(start, slash - start)))
            return false;
        if (slash == std::string_view::npos)
            return true;
        start = slash + 1;
    }
}

bool valid_tag(std::string_view tag)
{
    if (tag.empty() || tag.size() > max_tag)
        return false;
    for (std::size_t i = 0; i < tag.size(); ++i) {
        char c = tag[i];
        bool word = lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

bool valid_registry(std::string_view host)
{
    if (host.empty() || host.size() > max_name)
        return false;
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
        auto port = host.substr(colon + 1);
        if (port.empty() || port.size() > 5)
            return false;
        for (char c : port)
            if (c < '0' || c > '9')
                return false;
        host = host.substr(0, colon);
    }
    for (char c : host)
        if (!lower_alnum(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '-')
            return false;
    return !host.empty() && host.front() != '.' && host.front() != '-';
}

bool looks_like_registry(std::string_view first)
{
    return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
           first == "localhost";
}

Error invalid(std::string_view text, const char* why)
{
    return plain_error(std::string("invalid image reference (") + why + ")", std::string(text));
}

}  // namespace

std::string Reference::name() const
{
    return registry + "/" + repository;
}

std::string Reference::str() const
{
    std::string result = name();
    if (!tag.empty())
        result += ":" + tag;
    if (!digest.empty())
        result += "@" + digest;
    return result;
}

std::string Reference::endpoint() const
{
    return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

Expected<Reference> parse_reference(std::string_view text)
{
    Reference ref;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        ref.digest = std::string(rest.substr(at + 1));
        if (!valid_digest(ref.digest))
            return std::unexpected(invalid(text, "the digest must be sha256: and 64 hex digits"));
        rest = rest.substr(0, at);
    }
    auto last_slash = rest.rfind('/');
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
        ref.tag = std::string(rest.substr(colon + 1));
        if (!valid_tag(ref.tag))
            return std::unexpected(invalid(text, "bad tag"));
        rest = rest.substr(0, colon);
    }
    auto first_slash = rest.find('/');
    if (first_slash != std::string_view::npos && looks_like_registry(rest.substr(0, first_slash))) {
        ref.registry = std::string(rest.substr(0, first_slash));
        rest = rest.substr(first_slash + 1);
        if (!valid_registry(ref.registry))
            return std::unexpected(invalid(text, "bad registry host"));
    } else {
        ref.registry = "docker.io";
    }
    if (ref.registry == "index.docker.io")
        ref.registry = "docker.io";
    ref.repository = std::string(rest);
    if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
        ref.repository = "library/" + ref.repository;
    if (!valid_repository(ref.repository) || ref.name().size() > max_name)
        return std::unexpected(invalid(text, "names are lowercase letters, digits and . _ - / separators"));
    if (ref.tag.empty() && ref.digest.empty())
        ref.tag = "latest";
    return ref;
}

Expected<Reference> parse_local_reference(std::string_view text)
{
    auto slash = text.find('/');
    if (slash != std::string_view::npos && looks_like_registry(text.substr(0, slash)))
        return parse_reference(text);
    return parse_reference("localhost/" + std::string(text));
}

bool is_local_registry(std::string_view registry)
{
    auto host = registry.substr(0, registry.rfind(':'));
    if (registry.find(':') == std::string_view::npos)
        host = registry;
    return host == "localhost" || host == "127.0.0.1";
}

}  // namespace cage::image
