#include "scheduler/alert_document.h"

#include <time.h>

#include <cstdio>
#include <string_view>

#include "common/json/json_writer.h"
#include "common/lang/utf8.h"

namespace receta::scheduler {
namespace {

// Why limits: the text is read on a phone lock screen; the full error and
// log lines are in the document's other fields.
constexpr size_t kTextErrorBytes = 300;
constexpr size_t kTextLogLineBytes = 200;

// `text` as one line for the summary: valid UTF-8, only its first line that
// is not blank, control characters as spaces, cut to `max_bytes` with an
// ellipsis.
std::string OneLine(std::string_view text, size_t max_bytes) {
  size_t start = text.find_first_not_of(" \t\r\n");
  text = start == std::string_view::npos ? std::string_view() : text.substr(start);
  std::string valid = ValidUtf8(text.substr(0, text.find('\n')));
  for (char& c : valid) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  while (!valid.empty() && valid.back() == ' ') valid.pop_back();
  if (valid.size() <= max_bytes) return valid;
  return std::string(Utf8Prefix(valid, max_bytes)) + "…";
}

// Why: Slack reads <...> as a link or mention and &...; as an entity, so a
// step's error text could otherwise ping a channel or vanish.
std::string SlackEscaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// `word` quoted for a POSIX shell when it holds anything but the characters
// run ids and step names normally use, so the see-more command pastes as is.
std::string ShellWord(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '@';
    plain = plain && safe;
  }
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Emoji(const std::string& event) {
  if (event == "failure") return ":x:";
  if (event == "retry") return ":repeat:";
  if (event == "gate_failed") return ":no_entry:";
  if (event == "success") return ":white_check_mark:";
  if (event == "worker_lost") return ":warning:";
  if (event == "timeout") return ":hourglass:";
  return ":bell:";
}

// "step train of run r-12 (dag iris)" or "run r-12 (dag iris)".
std::string Subject(const Alert& alert) {
  std::string run = "run " + OneLine(alert.run_id, 100);
  if (!alert.dag_name.empty()) run += " (dag " + OneLine(alert.dag_name, 100) + ")";
  return alert.step.empty() ? run : "step " + OneLine(alert.step, 100) + " of " + run;
}

// What happened, in words, without the error.
std::string Happened(const Alert& alert) {
  const std::string subject = Subject(alert);
  const std::string& event = alert.event;
  if (event == "failure") return subject + " failed";
  if (event == "success") return subject + " succeeded";
  if (event == "timeout") return subject + " timed out";
  if (event == "gate_failed") return "the gate of " + subject + " failed";
  if (event == "worker_lost") {
    std::string worker = alert.worker_name.empty() ? "" : " " + OneLine(alert.worker_name, 100);
    return subject + " lost its worker" + worker;
  }
  if (event == "retry") {
    std::string attempt =
        alert.attempt_number > 0 ? "attempt " + std::to_string(alert.attempt_number) + " of " : "";
    return attempt + subject + " failed and will be retried";
  }
  return subject + ": " + OneLine(event, 100);
}

}  // namespace

std::string IsoTimeUtcMs(uint64_t time_ms) {
  time_t seconds = static_cast<time_t>(time_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(time_ms % 1000));
  return buffer;
}

std::string AlertSeeMore(const Alert& alert) {
  if (alert.step.empty()) return "receta status " + ShellWord(alert.run_id);
  std::string command = "receta logs " + ShellWord(alert.run_id) + " " + ShellWord(alert.step);
  if (alert.attempt_number > 0) command += " --attempt " + std::to_string(alert.attempt_number);
  return command;
}

std::string AlertText(const Alert& alert) {
  std::string line = Emoji(alert.event) + " receta: " + Happened(alert);
  std::string error = OneLine(alert.error, kTextErrorBytes);
  if (!error.empty()) line += ": " + error;
  std::string text =
      SlackEscaped(line) + " — see `" + SlackEscaped(OneLine(AlertSeeMore(alert), 400)) + "`";
  for (auto it = alert.log_tail.rbegin(); it != alert.log_tail.rend(); ++it) {
    std::string last = OneLine(*it, kTextLogLineBytes);
    if (last.empty()) continue;
    // Why "> ": Slack shows it as a quote, and so do mail readers.
    text += "\n> " + SlackEscaped(last);
    break;
  }
  return text;
}

std::string AlertDocument(const Alert& alert) {
  JsonWriter json;
  json.BeginObject();
  json.Field("text", AlertText(alert));
  json.Field("event", ValidUtf8(alert.event));
  json.Field("run", ValidUtf8(alert.run_id));
  json.Field("dag", ValidUtf8(alert.dag_name));
  json.Field("step", ValidUtf8(alert.step));
  json.Field("attempt", ValidUtf8(alert.attempt_id));
  json.Field("attempt_number", static_cast<int64_t>(alert.attempt_number));
  json.Field("worker", ValidUtf8(alert.worker_name));
  json.Field("state", ValidUtf8(alert.state));
  json.Field("error", ValidUtf8(alert.error));
  json.Field("time", IsoTimeUtcMs(alert.time_ms));
  json.Key("log_tail").BeginArray();
  for (const std::string& line : alert.log_tail) json.String(ValidUtf8(line));
  json.EndArray();
  json.Field("see_more", ValidUtf8(AlertSeeMore(alert)));
  json.EndObject();
  return json.str();
}

}  // namespace receta::scheduler
