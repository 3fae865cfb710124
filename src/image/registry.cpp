#include "image/registry.hpp"

#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "image/http.hpp"
#include "image/layout.hpp"
#include "image/manifest.hpp"

namespace cage::image {
namespace {

constexpr std::size_t max_token_bytes = 1u << 20;

std::string accept_manifests()
{
    return "Accept: " + std::string(media::oci_index) + ", " + std::string(media::oci_manifest) + ", " +
           std::string(media::docker_list) + ", " + std::string(media::docker_manifest);
}

// One registry conversation: the scheme that answered, and the Authorization to send.
class Session {
public:
    Session(std::string registry, std::string endpoint, std::string repository, bool insecure)
        : registry_(std::move(registry)), endpoint_(std::move(endpoint)), repository_(std::move(repository)),
          insecure_(insecure), plain_http_allowed_(insecure || is_local_registry(registry_))
    {
    }

    Expected<void> connect(const std::optional<Credentials>& credentials);
    Expected<HttpResponse> get(const std::string& path, std::vector<std::string> headers,
                               std::function<Expected<void>(const char*, std::size_t)> sink = {},
                               std::size_t limit = max_manifest_bytes);
    std::string url(const std::string& path) const { return scheme_ + "://" + endpoint_ + path; }

private:
    Expected<void> authenticate(const HttpResponse& unauthorized, const std::optional<Credentials>& credentials);
    HttpRequest request(const std::string& url) const;

    std::string registry_, endpoint_, repository_;
    bool insecure_;
    bool plain_http_allowed_;
    std::string scheme_ = "https";
    std::string authorization_;
};

HttpRequest Session::request(const std::string& target) const
{
    HttpRequest request;
    request.url = target;
    request.verify_tls = !insecure_;
    request.allow_http_redirects = plain_http_allowed_;
    return request;
}

Error registry_error(const std::string& what, const HttpResponse& response, const std::string& url)
{
    std::string detail = "HTTP " + std::to_string(response.status);
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (json.is_object() && json.contains("errors") && json["errors"].is_array() && !json["errors"].empty() &&
        json["errors"][0].is_object() && json["errors"][0].contains("message") &&
        json["errors"][0]["message"].is_string())
        detail += " " + json["errors"][0]["message"].get<std::string>().substr(0, 200);
    return plain_error(what + ": " + detail, url);
}

// GET /v2/: which scheme answers, and whether (and how) the registry wants credentials.
Expected<void> Session::connect(const std::optional<Credentials>& credentials)
{
    auto response = http_get(request(url("/v2/")));
    if (!response && plain_http_allowed_) {
        scheme_ = "http";
        response = http_get(request(url("/v2/")));
    }
    if (!response)
        return std::unexpected(response.error());
    if (response->status == 401)
        return authenticate(*response, credentials);
    if (response->status / 100 != 2)
        return std::unexpected(registry_error("unexpected answer from the registry", *response, url("/v2/")));
    return {};
}

Expected<void> Session::authenticate(const HttpResponse& unauthorized, const std::optional<Credentials>& credentials)
{
    auto header = unauthorized.headers.find("www-authenticate");
    auto challenge = header == unauthorized.headers.end() ? std::nullopt : parse_challenge(header->second);
    if (!challenge)
        return std::unexpected(plain_error("the registry wants authentication cage does not know", url("/v2/")));
    std::string basic = credentials ? "Basic " + base64_encode(credentials->username + ":" + credentials->password) : "";
    if (challenge->scheme == "basic") {
        if (!credentials)
            return std::unexpected(plain_error("the registry needs credentials", registry_,
                                               "run 'cage login " + registry_ + "'"));
        authorization_ = "Authorization: " + basic;
        return {};
    }
    auto realm = challenge->params["realm"];
    if (!realm.starts_with("https://") && !(plain_http_allowed_ && realm.starts_with("http://")))
        return std::unexpected(plain_error("refused token realm (not https)", realm));
    std::string token_url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                            "service=" + challenge->params["service"];
    if (!repository_.empty())
        token_url += "&scope=repository:" + repository_ + ":pull";
    auto token_request = request(token_url);
    token_request.body_limit = max_token_bytes;
    if (credentials)
        token_request.headers.push_back("Authorization: " + basic);
    auto response = CAGE_TRY(http_get(token_request));
    if (response.status == 401 || response.status == 403)
        return std::unexpected(plain_error("the registry refused the credentials", registry_,
                                           credentials ? "check them with 'cage login'" : "run 'cage login " + registry_ + "'"));
    if (response.status / 100 != 2)
        return std::unexpected(registry_error("cannot get a registry token", response, realm));
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    std::string token;
    for (const char* key : {"token", "access_token"})
        if (json.is_object() && json.contains(key) && json[key].is_string() && token.empty())
            token = json[key].get<std::string>();
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos)
        return std::unexpected(plain_error("the registry's token service gave no usable token", realm));
    authorization_ = "Authorization: Bearer " + token;
    return {};
}

Expected<HttpResponse> Session::get(const std::string& path, std::vector<std::string> headers,
                                    std::function<Expected<void>(const char*, std::size_t)> sink, std::size_t limit)
{
    auto req = request(url(path));
    req.headers = std::move(headers);
    if (!authorization_.empty())
        req.headers.push_back(authorization_);
    req.sink = std::move(sink);
    req.body_limit = limit;
    return http_get(req);
}

// The manifest for a tag or digest, verified: its sha256 must be the digest asked for, and
// the one the registry announces.
Expected<std::pair<std::string, std::string>> fetch_manifest(Session& session, const std::string& repository,
                                                             const std::string& tag_or_digest)
{
    auto path = "/v2/" + repository + "/manifests/" + tag_or_digest;
    auto response = CAGE_TRY(session.get(path, {accept_manifests()}));
    if (response.status == 401 || response.status == 403)
        return std::unexpected(registry_error("access to the image denied", response, session.url(path)));
    if (response.status == 404)
        return std::unexpected(plain_error("no such image in the registry", session.url(path)));
    if (response.status / 100 != 2)
        return std::unexpected(registry_error("cannot get the manifest", response, session.url(path)));
    auto digest = sha256_of(response.body);
    if (tag_or_digest.starts_with("sha256:") && digest != tag_or_digest)
        return std::unexpected(plain_error("refused manifest: its content does not match its digest (got " + digest + ")",
                                           tag_or_digest));
    auto announced = response.headers.find("docker-content-digest");
    if (announced != response.headers.end() && announced->second.starts_with("sha256:") && announced->second != digest)
        return std::unexpected(plain_error("refused manifest: its content does not match the registry's digest",
                                           announced->second));
    return std::pair{std::move(response.body), digest};
}

Expected<void> fetch_blob(Session& session, Store& store, const std::string& repository, const Descriptor& blob)
{
    if (store.has_blob(blob.digest))
        return {};
    auto writer = CAGE_TRY(store.new_blob(static_cast<std::uint64_t>(blob.size)));
    auto path = "/v2/" + repository + "/blobs/" + blob.digest;
    auto response = CAGE_TRY(session.get(path, {}, [&](const char* data, std::size_t size) {
        return writer.write(data, size);
    }));
    if (response.status / 100 != 2)
        return std::unexpected(registry_error("cannot download a blob", response, session.url(path)));
    if (writer.size() != static_cast<std::uint64_t>(blob.size))
        return std::unexpected(plain_error("refused blob: " + std::to_string(writer.size()) + " bytes, the manifest says " +
                                               std::to_string(blob.size),
                                           blob.digest));
    CAGE_TRY(writer.commit(blob.digest));
    return {};
}

// The layers not yet in the store, several at a time, each on its own connection.
Expected<void> fetch_layers(const Session& session, Store& store, const std::string& repository,
                            const std::vector<Descriptor>& layers, const PullOptions& options)
{
    std::vector<const Descriptor*> missing;
    for (const auto& layer : layers)
        if (!store.has_blob(layer.digest))
            missing.push_back(&layer);
    std::atomic<std::size_t> next{0};
    std::mutex lock;
    std::optional<Error> failure;
    auto worker = [&] {
        Session own = session;
        for (std::size_t i; (i = next++) < missing.size();) {
            {
                std::lock_guard guard(lock);
                if (failure)
                    return;
                if (options.progress)
                    options.progress("downloading " + missing[i]->digest.substr(0, 19) + " (" +
                                     std::to_string(missing[i]->size) + " bytes)");
            }
            if (auto fetched = fetch_blob(own, store, repository, *missing[i]); !fetched) {
                std::lock_guard guard(lock);
                if (!failure)
                    failure = fetched.error();
                return;
            }
        }
    };
    std::vector<std::thread> threads;
    auto count = std::min<std::size_t>(std::max(1u, options.parallel), missing.size());
    for (std::size_t i = 0; i < count; ++i)
        threads.emplace_back(worker);
    for (auto& thread : threads)
        thread.join();
    if (failure)
        return std::unexpected(*failure);
    return {};
}

}  // namespace

Expected<std::string> pull(Store& store, const Reference& reference, const PullOptions& options)
{
    http_init();
    auto credentials = CAGE_TRY(find_credentials(reference.registry));
    Session session(reference.registry, reference.endpoint(), reference.repository, options.insecure);
    CAGE_TRY(session.connect(credentials));
    auto architecture = options.architecture.empty() ? host_architecture() : options.architecture;
    auto [text, digest] = CAGE_TRY(fetch_manifest(session, reference.repository,
                                                  reference.digest.empty() ? reference.tag : reference.digest));
    if (CAGE_TRY(document_kind(text)) == DocumentKind::index) {
        auto entries = CAGE_TRY(parse_index(text));
        auto chosen = pick_platform(entries, architecture);
        if (!chosen)
            return std::unexpected(plain_error("the image has no linux/" + architecture + " variant", reference.str()));
        std::tie(text, digest) = CAGE_TRY(fetch_manifest(session, reference.repository, chosen->digest));
        if (CAGE_TRY(document_kind(text)) != DocumentKind::manifest)
            return std::unexpected(plain_error("an index entry is not an image manifest", chosen->digest));
    }
    auto manifest = CAGE_TRY(parse_manifest(text));
    if (options.progress)
        options.progress("pulling " + reference.str() + " (" + std::to_string(manifest.layers.size()) + " layers)");
    std::vector<Descriptor> needed;
    for (const auto& layer : manifest.layers)
        needed.push_back(layer);
    if (manifest.config.size > static_cast<std::int64_t>(max_config_bytes))
        return std::unexpected(plain_error("refused image: its config is larger than " +
                                               std::to_string(max_config_bytes) + " bytes",
                                           manifest.config.digest));
    // Layers already unpacked need no download: the config says which ones those are.
    CAGE_TRY(fetch_blob(session, store, reference.repository, manifest.config));
    auto config_text = CAGE_TRY(store.read_blob(manifest.config.digest, max_config_bytes));
    auto config = CAGE_TRY(parse_config(config_text));
    if (config.diff_ids.size() == needed.size())
        for (std::size_t i = needed.size(); i-- > 0;)
            if (store.has_layer(config.diff_ids[i]))
                needed.erase(needed.begin() + static_cast<std::ptrdiff_t>(i));
    CAGE_TRY(fetch_layers(session, store, reference.repository, needed, options));
    auto ensure = [&](const Descriptor& blob) { return fetch_blob(session, store, reference.repository, blob); };
    auto record = CAGE_TRY(store_manifest(store, text, digest, ensure, options.progress));
    auto name = reference.str();
    CAGE_TRY(store.tag(name, record));
    return name;
}

Expected<void> check_login(const std::string& registry, const Credentials& credentials, bool insecure)
{
    http_init();
    Reference reference;
    reference.registry = registry;
    Session session(registry, reference.endpoint(), "", insecure);
    CAGE_TRY(session.connect(credentials));
    auto response = CAGE_TRY(session.get("/v2/", {}));
    if (response.status == 401 || response.status == 403)
        return std::unexpected(plain_error("the registry refused the credentials", registry));
    if (response.status / 100 != 2)
        return std::unexpected(registry_error("unexpected answer from the registry", response, session.url("/v2/")));
    return {};
}

}  // namespace cage::image
