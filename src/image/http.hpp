// A small HTTP GET client over libcurl, for the registry: bounded bodies, streamed blobs,
// TLS verified unless asked otherwise, redirects only to https (or http when allowed).
#pragma once

#include <cage/error.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cage::image {

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers;  // names lowercased; the last value wins
    std::string body;                            // empty when streamed to a sink
};

struct HttpRequest {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::size_t body_limit = 4u << 20;  // for buffered bodies
    // When set, a 2xx body goes here instead of into `body`; returning an error aborts.
    std::function<Expected<void>(const char*, std::size_t)> sink;
    bool verify_tls = true;
    bool allow_http_redirects = false;
};

// curl_global_init, once per process (thread-safe).
void http_init();
Expected<HttpResponse> http_get(const HttpRequest& request);

}  // namespace cage::image
