#pragma once
// TestHttpServer: a one-thread HTTP/1.1 server on 127.0.0.1 (an ephemeral
// port) for tests of code that POSTs, e.g. alert webhooks. It records every
// request and answers with scripted statuses, optionally late. Header-only,
// like test_files.h.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace receta::testing {

// A one-thread HTTP/1.1 server that records each request and answers it
// with the next scripted status (200 once the script is used up), after an
// optional delay, then closes the connection.
class TestHttpServer {
 public:
  struct Request {
    std::string head;  // request line and headers
    std::string body;
  };

  TestHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    REQUIRE(listen(listen_fd_, 16) == 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestHttpServer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
    close(listen_fd_);
  }

  std::string Url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// The statuses (and body) of the next answers, in order.
  void Script(std::deque<int> statuses, std::string body = "") {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_ = std::move(statuses);
    answer_body_ = std::move(body);
  }
  void SetDelayMs(int delay_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ms_ = delay_ms;
  }
  std::vector<Request> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!Stopping()) {
      pollfd listening{listen_fd_, POLLIN, 0};
      // Why a timeout: to notice stop_; correctness does not depend on it.
      if (poll(&listening, 1, 20) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Handle(fd);
      close(fd);
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  void Handle(int fd) {
    std::string data;
    size_t head_end = std::string::npos;
    size_t body_length = 0;
    char buffer[4096];
    while (true) {
      if (head_end == std::string::npos) {
        head_end = data.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          std::string head = data.substr(0, head_end);
          for (auto& c : head) c = static_cast<char>(tolower(c));
          size_t at = head.find("content-length:");
          if (at != std::string::npos) body_length = std::stoul(head.substr(at + 15));
        }
      }
      if (head_end != std::string::npos && data.size() >= head_end + 4 + body_length) break;
      pollfd readable{fd, POLLIN, 0};
      if (poll(&readable, 1, 5000) <= 0) return;
      ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) return;
      data.append(buffer, static_cast<size_t>(n));
    }
    int status = 200;
    int delay_ms = 0;
    std::string body;
    {
      std::unique_lock<std::mutex> lock(mu_);
      requests_.push_back({data.substr(0, head_end), data.substr(head_end + 4, body_length)});
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.pop_front();
      }
      body = answer_body_;
      delay_ms = delay_ms_;
      // An interruptible sleep: the destructor must not wait it out.
      changed_.wait_for(lock, std::chrono::milliseconds(delay_ms), [&] { return stop_; });
    }
    std::string answer = "HTTP/1.1 " + std::to_string(status) +
                         " Scripted\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
    ssize_t ignored = send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    (void)ignored;
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stop_ = false;              // Guarded by mu_
  std::deque<int> statuses_;       // Guarded by mu_
  std::string answer_body_;        // Guarded by mu_
  int delay_ms_ = 0;               // Guarded by mu_
  std::vector<Request> requests_;  // Guarded by mu_
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
inline int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace receta::testing
