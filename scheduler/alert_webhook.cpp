#include "scheduler/alert_webhook.h"

#include <errno.h>

#include <algorithm>
#include <mutex>

#include "common/lang/utf8.h"
#include "receta/version.h"

namespace receta::scheduler {
namespace {

// Why: enough of a reply to show Slack's "invalid_payload" or a proxy's
// error line, not a whole HTML error page.
constexpr size_t kResponseBytesKept = 512;
constexpr size_t kResponseBytesShown = 200;

bool LooksLikeSecret(std::string_view segment) {
  if (segment.size() < 16) return false;
  bool letter = false, digit = false;
  for (char c : segment) {
    letter = letter || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    digit = digit || (c >= '0' && c <= '9');
  }
  return letter && digit;
}

// The first line of a reply body, valid UTF-8, without control characters.
std::string ResponseSnippet(std::string_view body) {
  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "";
  body = body.substr(start);
  std::string line = ValidUtf8(body.substr(0, body.find('\n')));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (line.size() > kResponseBytesShown)
    line = std::string(Utf8Prefix(line, kResponseBytesShown)) + "…";
  return line;
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string ShownUrl(std::string_view url) {
  std::string_view rest = url;
  std::string out;
  size_t scheme_end = rest.find("://");
  if (scheme_end != std::string_view::npos) {
    out = std::string(rest.substr(0, scheme_end + 3));
    rest = rest.substr(scheme_end + 3);
    size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
    std::string_view authority = rest.substr(0, authority_end);
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      out += "***@";
      authority = authority.substr(at + 1);
    }
    out += authority;
    rest = rest.substr(authority_end);
  }
  size_t query = std::min(rest.find_first_of("?#"), rest.size());
  std::string_view path = rest.substr(0, query);
  while (!path.empty()) {
    size_t slash = path.find('/', 1);
    std::string_view segment = path.substr(0, slash);
    bool leading_slash = !segment.empty() && segment.front() == '/';
    std::string_view name = leading_slash ? segment.substr(1) : segment;
    out += leading_slash ? "/" : "";
    out += LooksLikeSecret(name) ? std::string_view("***") : name;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  if (query < rest.size()) out += "?***";
  return ValidUtf8(out);
}

Result<std::unique_ptr<WebhookPost>> WebhookPost::Create(const std::string& url,
                                                         std::shared_ptr<const std::string> body,
                                                         uint64_t timeout_ms) {
  using R = Result<std::unique_ptr<WebhookPost>>;
  InitCurlOnce();
  auto post = std::unique_ptr<WebhookPost>(new WebhookPost());
  post->url_ = url;
  post->body_ = std::move(body);
  post->timeout_ms_ = timeout_ms;
  post->handle_ = curl_easy_init();
  if (post->handle_ == nullptr)
    return R::Error("libcurl cannot make a handle for " + ShownUrl(url));
  for (const char* header : {"Content-Type: application/json",
                             // Why: a 100-continue round trip costs a second
                             // with servers that do not answer it.
                             "Expect:"}) {
    curl_slist* list = curl_slist_append(post->headers_, header);
    if (list == nullptr) return R::Error("libcurl is out of memory for " + ShownUrl(url));
    post->headers_ = list;
  }
  static const std::string user_agent = std::string("receta/") + kVersion;
  CURL* h = post->handle_;
  long timeout = static_cast<long>(std::min<uint64_t>(timeout_ms, 1u << 30));
  CURLcode code = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(h, option, value);
  };
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_POST, 1L);
  set(CURLOPT_POSTFIELDS, post->body_->data());
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->body_->size()));
  set(CURLOPT_HTTPHEADER, post->headers_);
  set(CURLOPT_USERAGENT, user_agent.c_str());
  set(CURLOPT_TIMEOUT_MS, timeout);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout);
  // Why: the sender's thread uses no signals, and libcurl's SIGALRM-based
  // DNS timeouts are unsafe in a process with other threads.
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_FOLLOWLOCATION, 1L);
  set(CURLOPT_MAXREDIRS, 5L);
  // Why: keep POSTing the document after a 301 or 302 (browsers switch to a
  // GET without a body, which no webhook wants).
  set(CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_301 | CURL_REDIR_POST_302));
  // Why: a DAG names the URL; file://, gopher:// and the like must not be
  // reachable through it, nor through a redirect.
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#if LIBCURL_VERSION_NUM >= 0x075700
  // Why: without it, cleaning up a transfer whose DNS lookup is still
  // running waits for the lookup, which would delay the sender's shutdown.
  set(CURLOPT_QUICK_EXIT, 1L);
#endif
  set(CURLOPT_WRITEFUNCTION, &WebhookPost::OnResponseBytes);
  set(CURLOPT_WRITEDATA, static_cast<void*>(post.get()));
  set(CURLOPT_ERRORBUFFER, post->error_);
  if (code != CURLE_OK) {
    return R::Error("libcurl refused an option for " + ShownUrl(url) + ": " +
                    curl_easy_strerror(code));
  }
  return post;
}

WebhookPost::~WebhookPost() {
  if (handle_ != nullptr) curl_easy_cleanup(handle_);
  curl_slist_free_all(headers_);
}

size_t WebhookPost::OnResponseBytes(char* bytes, size_t size, size_t count, void* self) {
  auto* post = static_cast<WebhookPost*>(self);
  size_t length = size * count;
  size_t room = kResponseBytesKept - std::min(kResponseBytesKept, post->response_.size());
  post->response_.append(bytes, std::min(room, length));
  return length;  // Why all of it: a short count would abort the transfer
}

std::string WebhookPost::Failure(CURLcode code) const {
  const std::string url = ShownUrl(url_);
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return "";
    std::string snippet = ResponseSnippet(response_);
    return "HTTP " + std::to_string(status) + " from " + url +
           (snippet.empty() ? "" : ": " + snippet);
  }
  if (code == CURLE_OPERATION_TIMEDOUT) {
    return "no answer from " + url + " within " + std::to_string(timeout_ms_) + " ms";
  }
  long os_errno = 0;
  curl_easy_getinfo(handle_, CURLINFO_OS_ERRNO, &os_errno);
  if (code == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED) {
    return "connection refused by " + url;
  }
  // Why the error buffer first: it names what failed ("Could not resolve
  // host: ...", "SSL certificate problem: ...") where curl_easy_strerror
  // names only the kind of failure.
  std::string detail = error_[0] != '\0' ? ValidUtf8(error_) : curl_easy_strerror(code);
  return "cannot POST to " + url + ": " + detail;
}

}  // namespace receta::scheduler
