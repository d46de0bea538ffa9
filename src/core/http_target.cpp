#include "pgque_worker/core/http_target.hpp"

#include <algorithm>
#include <cctype>

namespace pgque::core {

namespace {

std::string Lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string Trim(std::string_view s)
{
    size_t b = s.find_first_not_of(" \t");
    size_t e = s.find_last_not_of(" \t");
    return b == std::string_view::npos ? "" : std::string(s.substr(b, e - b + 1));
}

bool Fail(std::string *error, const char *why)
{
    if (error)
        *error = why;
    return false;
}

}  // namespace

std::optional<HttpUrl> ParseHttpUrl(std::string_view url, std::string *error)
{
    for (unsigned char c : url)
        if (c <= ' ' || c == 0x7f) {
            Fail(error, "the URL contains spaces or control characters");
            return std::nullopt;
        }
    size_t colon = url.find("://");
    if (colon == std::string_view::npos) {
        Fail(error, "the URL has no scheme (expected http:// or https://)");
        return std::nullopt;
    }
    HttpUrl result;
    result.scheme = Lower(url.substr(0, colon));
    if (result.scheme != "http" && result.scheme != "https") {
        Fail(error, "only http and https URLs are allowed");
        return std::nullopt;
    }
    std::string_view rest = url.substr(colon + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) {
        Fail(error, "credentials in the URL are not allowed (use headers)");
        return std::nullopt;
    }
    std::string_view host;
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            Fail(error, "unterminated IPv6 address in the URL");
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') {
            Fail(error, "unexpected text after the IPv6 address");
            return std::nullopt;
        }
        port = after.empty() ? after : after.substr(1);
    } else {
        size_t p = authority.find(':');
        host = authority.substr(0, p);
        port = p == std::string_view::npos ? std::string_view() : authority.substr(p + 1);
    }
    if (host.empty()) {
        Fail(error, "the URL has no host");
        return std::nullopt;
    }
    // The host checked against the allow-list must be the host libcurl
    // connects to: no zone ids ("[::1%25x.allowed.test]" reaches ::1), no
    // percent-encoding, nothing a URL parser could read another way.
    const bool ipv6 = authority[0] == '[';
    if (!std::all_of(host.begin(), host.end(), [ipv6](unsigned char c) {
            return ipv6 ? std::isxdigit(c) || c == ':' || c == '.'
                        : std::isalnum(c) || c == '-' || c == '.' || c == '_';
        })) {
        Fail(error, ipv6 ? "an IPv6 host may hold only hex digits, ':' and '.' (no zone id)"
                         : "the URL's host may hold only letters, digits, '-', '_' and '.'");
        return std::nullopt;
    }
    if (!port.empty() || authority.find(':') != std::string_view::npos) {
        bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
        if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
            Fail(error, "the URL's port must be a number from 1 to 65535");
            return std::nullopt;
        }
    }
    result.host = Lower(host);
    return result;
}

bool HostAllowed(std::string_view allow_list, std::string_view host)
{
    const std::string h = Lower(host);
    size_t start = 0;
    while (start <= allow_list.size()) {
        size_t comma = allow_list.find(',', start);
        std::string pattern = Lower(Trim(allow_list.substr(start, comma == std::string_view::npos
                                                                        ? std::string_view::npos
                                                                        : comma - start)));
        if (pattern == "*" || pattern == h)
            return true;
        if (pattern.size() > 2 && pattern.compare(0, 2, "*.") == 0) {
            std::string suffix = pattern.substr(1);  // ".example.com"
            if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0)
                return true;
        }
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return false;
}

}  // namespace pgque::core
