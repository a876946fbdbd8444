#pragma once
// The daemons' operator log on stdout, written a turn at a time.
//
// Why: spdlog's stdout sinks write and flush every line on its own, and the
// scheduler logs a line per event: a thousand writes in the turn that takes
// a run of 1,000 steps, each a system call the turn's first Dispatch
// results then wait behind; four per step after that. Here lines collect in
// stdio's buffer and go out when the daemon's loop ends a turn (FlushLog),
// so a crash loses at most the lines of the turn it interrupted. Warnings
// and errors are written at once, and a flush runs every second whatever
// happens.
//
// On a terminal nothing changes (spdlog's colour sink, a write per line):
// someone is watching. Header-only: only the daemons use spdlog.

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace receta::net {

namespace detail {

// Formats into stdout's stdio buffer; writes only on flush (or when the
// buffer fills).
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stdout);
  }
  void flush_() override { std::fflush(stdout); }
};

}  // namespace detail

/// Makes the default logger write `pattern` lines to stdout as above.
inline void UseTurnBufferedStdoutLog(const std::string& pattern) {
  if (isatty(STDOUT_FILENO) == 1) {
    spdlog::set_pattern(pattern);
    return;
  }
  auto logger =
      std::make_shared<spdlog::logger>("receta", std::make_shared<detail::BufferedStdoutSink>());
  logger->set_pattern(pattern);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  spdlog::flush_every(std::chrono::seconds(1));
}

/// Writes what the turn logged. Call at the end of each turn of a daemon's
/// loop.
inline void FlushLog() { spdlog::default_logger_raw()->flush(); }

}  // namespace receta::net
