// Where an HTTP route may send: URL checks and pgque_worker.http_allowed_hosts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgque::core {

struct HttpUrl {
    std::string scheme;  // "http" or "https"
    std::string host;    // lower case; an IPv6 literal without brackets
};

// The URL's scheme and host, or nullopt (with why in *error) for anything
// that is not an absolute http(s) URL with a host.
std::optional<HttpUrl> ParseHttpUrl(std::string_view url, std::string *error);

// Whether host matches the comma-separated allow-list: an exact host, "*"
// for any, or "*.suffix" for subdomains of suffix. Case-insensitive.
bool HostAllowed(std::string_view allow_list, std::string_view host);

}  // namespace pgque::core
