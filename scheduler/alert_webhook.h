#pragma once
// WebhookPost: one HTTP POST of an alert document to a webhook sink, as a
// libcurl easy handle. It does no I/O itself: AlertSender adds its handle to
// a curl multi handle and drives all transfers from its one thread, so a
// slow endpoint delays no other delivery.
//
// Why libcurl rather than a hand-written HTTP client: webhook endpoints
// (Slack, Teams, PagerDuty) are HTTPS, answer with redirects, and sit behind
// the proxies that http_proxy / https_proxy / no_proxy name, which libcurl
// honours as every other tool on the host does.

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "scheduler/alert.h"  // ShownUrl

namespace receta::scheduler {

/// Calls curl_global_init once per process; safe from any thread. Why
/// never curl_global_cleanup: other threads may still use libcurl while
/// the process exits, and the OS frees what it holds.
void InitCurlOnce();


class WebhookPost {
 public:
  /// Prepares (does not start) a POST of `body` (Content-Type:
  /// application/json) to `url`, following redirects, limited to http and
  /// https, that fails if it has not finished within `timeout_ms`. Fails only
  /// when libcurl refuses the handle or an option (e.g. out of memory).
  static Result<std::unique_ptr<WebhookPost>> Create(const std::string& url,
                                                     std::shared_ptr<const std::string> body,
                                                     uint64_t timeout_ms);
  /// Cleans the easy handle up; remove it from any multi handle first.
  ~WebhookPost();
  WebhookPost(const WebhookPost&) = delete;
  WebhookPost& operator=(const WebhookPost&) = delete;

  CURL* handle() const { return handle_; }

  /// Once the multi handle reported the transfer done with `code`: "" when
  /// the endpoint answered 2xx, else why not, naming the (shown) URL, e.g.
  /// "HTTP 500 from http://127.0.0.1:9/hook: internal error" or
  /// "connection refused by http://127.0.0.1:9/hook".
  std::string Failure(CURLcode code) const;

  /// True when the failure `code` is one no retry can fix: a malformed URL
  /// or a scheme other than http and https (also after a redirect).
  static bool IsPermanent(CURLcode code) {
    return code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL;
  }

 private:
  WebhookPost() = default;
  static size_t OnResponseBytes(char* bytes, size_t size, size_t count, void* self);

  CURL* handle_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::shared_ptr<const std::string> body_;  // Why shared: libcurl reads it in place
  std::string url_;
  uint64_t timeout_ms_ = 0;
  std::string response_;  // the first bytes of the reply's body, for Failure()
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace receta::scheduler
