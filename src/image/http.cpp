#include "image/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <memory>
#include <mutex>

namespace cage::image {
namespace {

struct Transfer {
    const HttpRequest* request = nullptr;
    HttpResponse response;
    long status = 0;
    std::optional<Error> sink_error;
    bool too_large = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user)
{
    auto* transfer = static_cast<Transfer*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
        // A new response (after a redirect or a 100): its status decides where the body goes.
        transfer->response.headers.clear();
        transfer->response.body.clear();
        auto space = line.find(' ');
        transfer->status = space == std::string_view::npos ? 0 : std::atol(std::string(line.substr(space + 1, 3)).c_str());
        return size * count;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || transfer->response.headers.size() > 200)
        return size * count;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    transfer->response.headers[name] = std::string(value.substr(0, 8192));
    return size * count;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user)
{
    auto* transfer = static_cast<Transfer*>(user);
    std::size_t bytes = size * count;
    if (transfer->request->sink && transfer->status / 100 == 2) {
        auto written = transfer->request->sink(data, bytes);
        if (!written) {
            transfer->sink_error = written.error();
            return 0;
        }
        return bytes;
    }
    if (transfer->response.body.size() + bytes > transfer->request->body_limit) {
        transfer->too_large = true;
        return 0;
    }
    transfer->response.body.append(data, bytes);
    return bytes;
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

void http_init()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Expected<HttpResponse> http_get(const HttpRequest& request)
{
    http_init();
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl)
        return std::unexpected(plain_error("cannot start an HTTP client"));
    std::unique_ptr<curl_slist, ListDeleter> headers;
    for (const auto& header : request.headers) {
        auto* list = curl_slist_append(headers.get(), header.c_str());
        if (!list)
            return std::unexpected(plain_error("cannot build an HTTP request"));
        (void)headers.release();
        headers.reset(list);
    }
    Transfer transfer;
    transfer.request = &request;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, request.allow_http_redirects ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);  // abort a transfer stalled for 60 s
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cage/" CAGE_VERSION);
    if (!request.verify_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (transfer.sink_error)
        return std::unexpected(*transfer.sink_error);
    if (transfer.too_large)
        return std::unexpected(plain_error("refused HTTP response: larger than " +
                                               std::to_string(request.body_limit) + " bytes",
                                           request.url));
    if (rc != CURLE_OK)
        return std::unexpected(plain_error(std::string("HTTP request failed: ") + curl_easy_strerror(rc), request.url));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
    return std::move(transfer.response);
}

}  // namespace cage::image
