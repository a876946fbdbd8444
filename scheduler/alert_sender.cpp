#include "scheduler/alert_sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "scheduler/alert_command.h"
#include "scheduler/alert_document.h"
#include "scheduler/alert_webhook.h"

namespace receta::scheduler {

using Clock = std::chrono::steady_clock;

namespace {

// Why: without an eventfd nothing wakes the loop for a new alert or a stop,
// so it looks this often.
constexpr auto kTickWithoutWakeFd = std::chrono::milliseconds(50);
constexpr auto kLongestWait = std::chrono::seconds(60);

int64_t MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// How a sink is named in logs: the URL without its secrets, the command on
// one line.
std::string SinkLabel(const AlertSink& sink) {
  if (!sink.webhook.empty()) return "webhook " + ShownUrl(sink.webhook);
  std::string command = sink.command;
  std::replace_if(
      command.begin(), command.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return "command `" + command + "`";
}

std::string AlertLabel(const Alert& alert) {
  std::string label =
      "alert " + std::to_string(alert.id) + " (" + alert.event + ", run " + alert.run_id;
  if (!alert.step.empty()) label += ", step " + alert.step;
  return label + ")";
}

}  // namespace

uint64_t AlertRetryDelayMs(const AlertSenderOptions& options, uint32_t failed_tries,
                           double jitter) {
  double delay = static_cast<double>(options.first_retry_ms);
  for (uint32_t i = 1; i < failed_tries && delay < static_cast<double>(options.max_retry_ms); ++i) {
    delay *= 2;
  }
  delay *= 1.0 + 0.2 * std::clamp(jitter, -1.0, 1.0);
  return static_cast<uint64_t>(
      std::min(std::llround(delay), static_cast<long long>(options.max_retry_ms)));
}

// The loop thread's state: only that thread touches it.
class AlertSender::Loop {
 public:
  Loop(AlertSender& sender, AlertSenderOptions options)
      : sender_(sender), options_(options), rng_(std::random_device{}()) {
    InitCurlOnce();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      spdlog::error(
          "alerts: libcurl cannot start (curl_multi_init failed); webhook alerts will fail");
    }
  }

  ~Loop() {
    size_t abandoned = pending_.size() + running_.size();
    std::set<uint64_t> alert_ids;
    {
      // Why: alerts enqueued just before the stop never left incoming_.
      std::lock_guard<std::mutex> lock(sender_.mu_);
      for (const Queued& queued : sender_.incoming_) {
        abandoned += queued.alert.sinks.size();
        alert_ids.insert(queued.alert.id);
      }
    }
    if (abandoned > 0) {
      for (const auto& [when, delivery] : pending_) alert_ids.insert(delivery.alert->id);
      for (const auto& run : running_) alert_ids.insert(run->delivery.alert->id);
      std::string ids;
      for (uint64_t id : alert_ids) ids += " " + std::to_string(id);
      spdlog::warn("alerts: stopping with {} deliveries not done; abandoned them (alert ids:{})",
                   abandoned, ids);
    }
    for (auto& run : running_) {
      if (run->post && multi_ != nullptr) curl_multi_remove_handle(multi_, run->post->handle());
    }
    running_.clear();  // kills and reaps running commands
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  void Run() {
    // Why: libcurl and OpenSSL may write to a socket the peer closed; that
    // must be an error on this thread, not a SIGPIPE for the whole process.
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
    while (TakeIncoming()) {
      StartDue();
      Progress();
      Wait();
    }
  }

 private:
  // One alert on its way to one sink.
  struct Delivery {
    std::shared_ptr<const Alert> alert;
    std::shared_ptr<const std::string> document;
    AlertSink sink;
    Clock::time_point enqueued;
    uint32_t tries = 0;
  };
  // A delivery whose try is running: exactly one of post, command is set.
  struct Running {
    Delivery delivery;
    std::unique_ptr<WebhookPost> post;
    std::unique_ptr<AlertCommand> command;
  };

  // Moves new alerts into the pending queue; false once told to stop.
  bool TakeIncoming() {
    std::vector<Queued> incoming;
    {
      std::lock_guard<std::mutex> lock(sender_.mu_);
      if (sender_.stop_) return false;
      incoming.swap(sender_.incoming_);
    }
    for (Queued& queued : incoming) {
      auto alert = std::make_shared<const Alert>(std::move(queued.alert));
      auto document = std::make_shared<const std::string>(AlertDocument(*alert));
      for (const AlertSink& sink : alert->sinks) {
        pending_.emplace(queued.enqueued, Delivery{alert, document, sink, queued.enqueued});
      }
    }
    return true;
  }

  void StartDue() {
    Clock::time_point now = Clock::now();
    while (!pending_.empty() && pending_.begin()->first <= now &&
           running_.size() < std::max<size_t>(options_.max_in_flight, 1)) {
      Delivery delivery = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      Start(std::move(delivery));
    }
  }

  void Start(Delivery delivery) {
    ++delivery.tries;
    auto run = std::make_unique<Running>();
    const AlertSink& sink = delivery.sink;
    if (!sink.webhook.empty()) {
      // Why the texts are made first: `sink` is part of `delivery`, which
      // Finish's parameter may take before its other argument is made.
      if (multi_ == nullptr) {
        std::string failure = "libcurl could not start; cannot POST to " + ShownUrl(sink.webhook);
        return Finish(std::move(delivery), std::move(failure));
      }
      auto post = WebhookPost::Create(sink.webhook, delivery.document, options_.attempt_timeout_ms);
      if (!post.ok()) return Finish(std::move(delivery), post.error());
      CURLMcode added = curl_multi_add_handle(multi_, (*post)->handle());
      if (added != CURLM_OK) {
        std::string failure = "libcurl cannot start the POST to " + ShownUrl(sink.webhook) + ": " +
                              curl_multi_strerror(added);
        return Finish(std::move(delivery), std::move(failure));
      }
      run->post = std::move(*post);
    } else if (!sink.command.empty()) {
      auto command =
          AlertCommand::Start(sink.command, delivery.document, options_.attempt_timeout_ms);
      if (!command.ok()) return Finish(std::move(delivery), command.error());
      run->command = std::move(*command);
    } else {
      return Finish(std::move(delivery), "the sink has neither a webhook nor a command",
                    /*permanent=*/true);
    }
    run->delivery = std::move(delivery);
    running_.push_back(std::move(run));
  }

  // Moves every running try forward without blocking; ends those that ended.
  void Progress() {
    if (multi_ != nullptr) {
      int still_running = 0;
      curl_multi_perform(multi_, &still_running);
      int left = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& run) {
          return run->post && run->post->handle() == message->easy_handle;
        });
        if (it == running_.end()) continue;  // cannot happen: every handle is ours
        CURLcode result = message->data.result;
        curl_multi_remove_handle(multi_, message->easy_handle);
        std::unique_ptr<Running> done = std::move(*it);
        running_.erase(it);
        Finish(std::move(done->delivery), done->post->Failure(result),
               WebhookPost::IsPermanent(result));
      }
    }
    for (size_t i = 0; i < running_.size();) {
      if (!running_[i]->command || !running_[i]->command->Pump()) {
        ++i;
        continue;
      }
      std::unique_ptr<Running> done = std::move(running_[i]);
      running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
      Finish(std::move(done->delivery), done->command->failure());
    }
  }

  // Records a delivered or given-up outcome, or queues the next try. A
  // `permanent` failure is given up at once: no retry can fix it.
  void Finish(Delivery delivery, std::string failure, bool permanent = false) {
    const Alert& alert = *delivery.alert;
    Clock::time_point now = Clock::now();
    Clock::time_point give_up_at =
        delivery.enqueued + std::chrono::milliseconds(options_.give_up_after_ms);
    if (failure.empty()) {
      spdlog::info("alerts: {} delivered to {} (try {})", AlertLabel(alert),
                   SinkLabel(delivery.sink), delivery.tries);
    } else if (permanent || now >= give_up_at) {
      // Why no SinkLabel: every failure text names its sink already.
      spdlog::error("alerts: gave up on {} after {} tries in {} ms: {}", AlertLabel(alert),
                    delivery.tries, MsBetween(delivery.enqueued, now), failure);
    } else {
      std::uniform_real_distribution<double> jitter(-1.0, 1.0);
      uint64_t delay_ms = AlertRetryDelayMs(options_, delivery.tries, jitter(rng_));
      // Why the clamp: one last try right at the give-up time, not a wait
      // that ends after it.
      Clock::time_point next = std::min(now + std::chrono::milliseconds(delay_ms), give_up_at);
      spdlog::warn("alerts: {} not delivered (try {}): {}; next try in {} ms", AlertLabel(alert),
                   delivery.tries, failure, MsBetween(now, next));
      pending_.emplace(next, std::move(delivery));
      return;
    }
    AlertOutcome outcome;
    outcome.alert_id = alert.id;
    outcome.event = alert.event;
    outcome.run_id = alert.run_id;
    outcome.step = alert.step;
    outcome.attempt_id = alert.attempt_id;
    outcome.sink = delivery.sink;
    outcome.delivered = failure.empty();
    outcome.tries = delivery.tries;
    outcome.reason = std::move(failure);
    std::lock_guard<std::mutex> lock(sender_.mu_);
    sender_.outcomes_.push_back(std::move(outcome));
  }

  // Sleeps until a try makes progress, a retry is due, a command's deadline
  // passes, or Enqueue() or the destructor wakes the loop.
  void Wait() {
    Clock::time_point now = Clock::now();
    Clock::time_point wake = now + kLongestWait;
    if (!pending_.empty() && running_.size() < std::max<size_t>(options_.max_in_flight, 1)) {
      wake = std::min(wake, pending_.begin()->first);
    }
    std::vector<pollfd> fds;
    if (sender_.wake_fd_ >= 0) {
      fds.push_back({sender_.wake_fd_, POLLIN, 0});
    } else {
      wake = std::min(wake, now + kTickWithoutWakeFd);
    }
    for (const auto& run : running_) {
      if (!run->command) continue;
      run->command->PollFds(&fds);
      wake = std::min(wake, run->command->WakeBy());
    }
    // Why round up: waking a millisecond early would find nothing due and
    // spin until the due time.
    int timeout_ms = static_cast<int>(
        std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count()));
    if (multi_ != nullptr) {
      std::vector<curl_waitfd> wait_fds;
      for (const pollfd& fd : fds) {
        short events = static_cast<short>(((fd.events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                                          ((fd.events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
        wait_fds.push_back({fd.fd, events, 0});
      }
      // Why curl_multi_poll: it also waits on the transfers' sockets and
      // wakes for libcurl's own timeouts.
      curl_multi_poll(multi_, wait_fds.data(), static_cast<unsigned>(wait_fds.size()), timeout_ms,
                      nullptr);
    } else {
      poll(fds.data(), fds.size(), timeout_ms);
    }
    if (sender_.wake_fd_ >= 0) {
      uint64_t count = 0;
      ssize_t ignored = read(sender_.wake_fd_, &count, sizeof count);
      (void)ignored;
    }
  }

  AlertSender& sender_;
  const AlertSenderOptions options_;
  CURLM* multi_ = nullptr;
  std::mt19937_64 rng_;
  // Deliveries waiting for their next try, earliest first (ties in the
  // order queued).
  std::multimap<Clock::time_point, Delivery> pending_;
  std::vector<std::unique_ptr<Running>> running_;
};

AlertSender::AlertSender(AlertSenderOptions options) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    spdlog::warn("alerts: no eventfd ({}); the alert thread will poll every {} ms", strerror(errno),
                 kTickWithoutWakeFd.count());
  }
  loop_ = std::make_unique<Loop>(*this, options);
  // Why the loop ends on its thread: cleaning up may still write to sockets
  // and pipes, which only that thread does with SIGPIPE blocked.
  thread_ = std::thread([this] {
    loop_->Run();
    loop_.reset();
  });
}

AlertSender::~AlertSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void AlertSender::Enqueue(Alert alert) {
  if (alert.sinks.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming_.push_back({std::move(alert), Clock::now()});
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
}

std::vector<AlertOutcome> AlertSender::TakeOutcomes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AlertOutcome> taken;
  taken.swap(outcomes_);
  return taken;
}

}  // namespace receta::scheduler
