#include "worker/attempt_env.h"

#include <unistd.h>

extern char** environ;

namespace receta::worker {

Result<std::string> AttemptNumber(std::string_view attempt_id) {
  size_t dash = attempt_id.rfind('-');
  std::string_view digits =
      dash == std::string_view::npos ? std::string_view() : attempt_id.substr(dash + 1);
  bool all_digits = !digits.empty() && digits.size() <= 9;
  for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
  if (!all_digits) {
    return Result<std::string>::Error("attempt id '" + std::string(attempt_id) +
                                      "' does not end in '-N' (the attempt number)");
  }
  return std::string(digits);
}

std::map<std::string, std::string> BuildAttemptEnv(
    const protocol::Dispatch& dispatch, const std::map<std::string, std::string>& worker_env) {
  std::map<std::string, std::string> env;
  for (const char* name : kInheritedVariables) {
    auto it = worker_env.find(name);
    if (it != worker_env.end()) env[name] = it->second;
  }
  if (!env.count("PATH")) env["PATH"] = kDefaultPath;
  env["PYTHONUNBUFFERED"] = "1";
  for (const auto& [key, value] : dispatch.env) env[key] = value;
  env["RECETA_RUN_ID"] = dispatch.run_id;
  env["RECETA_STEP"] = dispatch.step;
  Result<std::string> number = AttemptNumber(dispatch.attempt_id);
  env["RECETA_ATTEMPT"] = number.ok() ? *number : dispatch.attempt_id;
  return env;
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

Status ValidateAttemptId(std::string_view attempt_id) {
  bool ok = !attempt_id.empty() && attempt_id.size() <= 200 && attempt_id[0] != '.';
  for (char c : attempt_id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::Error("attempt id '" + std::string(attempt_id) +
                       "' cannot name a sandbox: use 1-200 characters of [A-Za-z0-9._-], "
                       "not starting with '.'");
}

}  // namespace receta::worker
