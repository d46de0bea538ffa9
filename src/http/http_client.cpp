#include "pgque_worker/http/http_client.hpp"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>
#include <string_view>

#include "pgque_worker/version.hpp"

namespace pgque::http {

namespace {

constexpr size_t kExcerptBytes = 512;

struct Transfer {
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    Response *response = nullptr;
    char error[CURL_ERROR_SIZE] = {};
};

size_t KeepExcerpt(char *data, size_t size, size_t count, void *user)
{
    auto *response = static_cast<Response *>(user);
    size_t bytes = size * count;
    if (response->body_excerpt.size() < kExcerptBytes)
        response->body_excerpt.append(data, std::min(bytes, kExcerptBytes - response->body_excerpt.size()));
    return bytes;
}

// Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3).
size_t KeepRetryAfter(char *data, size_t size, size_t count, void *user)
{
    auto *response = static_cast<Response *>(user);
    size_t bytes = size * count;
    std::string_view line(data, bytes);
    // Each response (a 100 Continue, then the final one) starts with its
    // status line: only the final response's header counts.
    if (line.substr(0, 5) == "HTTP/")
        response->retry_after_seconds.reset();
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size() &&
        std::equal(kName.begin(), kName.end(), line.begin(),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
        std::string value(line.substr(kName.size()));
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t\r\n") + 1);
        if (!value.empty() && value.size() < 64) {
            if (value.find_first_not_of("0123456789") == std::string::npos)
                response->retry_after_seconds = std::stod(value);
            else if (time_t when = curl_getdate(value.c_str(), nullptr); when > 0)
                response->retry_after_seconds = std::max(0.0, std::difftime(when, std::time(nullptr)));
        }
    }
    return bytes;
}

// Runs f with every signal blocked in this thread, so that threads libcurl
// starts meanwhile inherit a fully blocked mask.
template <typename F>
auto WithSignalsBlocked(F &&f)
{
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    auto result = f();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return result;
}

}  // namespace

void HttpClient::GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
void HttpClient::GlobalCleanup() { curl_global_cleanup(); }

HttpClient::HttpClient(long max_connections) : multi_(curl_multi_init())
{
    if (!multi_)
        throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_connections);
}

HttpClient::~HttpClient() { curl_multi_cleanup(multi_); }

std::vector<Response> HttpClient::PostAll(const std::vector<Request> &requests,
                                          const std::function<void()> &between_polls)
{
    std::vector<Response> responses(requests.size());
    std::vector<Transfer> transfers(requests.size());
    const std::string user_agent = std::string("pgque_worker/") + kVersion;

    for (size_t i = 0; i < requests.size(); i++) {
        Transfer &t = transfers[i];
        t.response = &responses[i];
        t.easy = curl_easy_init();
        if (!t.easy)
            throw std::runtime_error("curl_easy_init failed");
        for (const std::string &h : requests[i].headers)
            t.headers = curl_slist_append(t.headers, h.c_str());
        curl_easy_setopt(t.easy, CURLOPT_URL, requests[i].url.c_str());
        curl_easy_setopt(t.easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(t.easy, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect could leave the allow-list
        curl_easy_setopt(t.easy, CURLOPT_POST, 1L);
        curl_easy_setopt(t.easy, CURLOPT_POSTFIELDS, requests[i].body.data());
        curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(requests[i].body.size()));
        curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.headers);
        curl_easy_setopt(t.easy, CURLOPT_USERAGENT, user_agent.c_str());
        curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, requests[i].timeout_ms);
        curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, KeepExcerpt);
        curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, t.response);
        curl_easy_setopt(t.easy, CURLOPT_HEADERFUNCTION, KeepRetryAfter);
        curl_easy_setopt(t.easy, CURLOPT_HEADERDATA, t.response);
        curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.error);
        curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
        curl_multi_add_handle(multi_, t.easy);
    }

    int running = static_cast<int>(requests.size());
    try {
        while (running > 0) {
            WithSignalsBlocked([&] { return curl_multi_perform(multi_, &running); });
            int queued = 0;
            while (CURLMsg *m = curl_multi_info_read(multi_, &queued)) {
                if (m->msg != CURLMSG_DONE)
                    continue;
                Transfer *t = nullptr;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char **>(&t));
                curl_easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME, &t->response->duration_seconds);
                if (m->data.result == CURLE_OK) {
                    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &t->response->status);
                    t->response->ok = t->response->status >= 200 && t->response->status < 300;
                } else {
                    t->response->error = t->error[0] ? t->error : curl_easy_strerror(m->data.result);
                }
            }
            if (running > 0) {
                WithSignalsBlocked([&] { return curl_multi_poll(multi_, nullptr, 0, 100, nullptr); });
                between_polls();
            }
        }
    } catch (...) {
        for (Transfer &t : transfers) {
            curl_multi_remove_handle(multi_, t.easy);
            curl_easy_cleanup(t.easy);
            curl_slist_free_all(t.headers);
        }
        throw;
    }
    for (Transfer &t : transfers) {
        curl_multi_remove_handle(multi_, t.easy);
        curl_easy_cleanup(t.easy);
        curl_slist_free_all(t.headers);
    }
    return responses;
}

}  // namespace pgque::http
