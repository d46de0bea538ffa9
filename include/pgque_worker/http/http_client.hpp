// Concurrent HTTP POSTs through one libcurl multi handle: connections are
// reused across batches, at most max_connections requests are in flight.
// No PostgreSQL here: the caller passes a check to run between polls (it
// handles interrupts), and libcurl's resolver threads start with every
// signal blocked, so they never see PostgreSQL's.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

typedef void CURLM;

namespace pgque::http {

struct Request {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
    long timeout_ms = 10000;
};

struct Response {
    bool ok = false;          // 2xx
    long status = 0;          // HTTP status; 0 when no response
    std::string error;        // transport error (timeout, refused, ...), empty otherwise
    std::string body_excerpt; // the start of the response body, raw bytes (not validated)
    std::optional<double> retry_after_seconds;  // the Retry-After header, when given and valid
    double duration_seconds = 0;  // from the start of the request to its end (or failure)
};

class HttpClient {
public:
    explicit HttpClient(long max_connections);
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // Sends every request and waits for all of them; responses in order.
    std::vector<Response> PostAll(const std::vector<Request> &requests,
                                  const std::function<void()> &between_polls);

    // Process-wide libcurl set-up and clean-up.
    static void GlobalInit();
    static void GlobalCleanup();

private:
    CURLM *multi_;
};

}  // namespace pgque::http
