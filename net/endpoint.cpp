#include "net/endpoint.h"

#include <cstdlib>
#include <fstream>

#include "net/connection.h"

namespace receta::net {
namespace {

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string ResolveSchedulerEndpoint(const std::string& flag_value) {
  std::string flag = Trim(flag_value);
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv(kSchedulerEnvVar)) {
    std::string value = Trim(env);
    if (!value.empty()) return value;
  }
  std::ifstream file(kLocalEndpointFile);
  std::string line;
  if (file && std::getline(file, line)) {
    std::string value = Trim(line);
    if (!value.empty()) return value;
  }
  return kDefaultSchedulerEndpoint;
}

Status CheckEndpoint(const std::string& endpoint) {
  auto bad = [&](const std::string& why) {
    return Status::Error("bad scheduler endpoint '" + endpoint + "': " + why +
                         "; expected tcp://HOST:PORT (e.g. " + kDefaultSchedulerEndpoint +
                         ") or ipc://PATH");
  };
  if (StartsWith(endpoint, "ipc://") || StartsWith(endpoint, "inproc://")) {
    if (endpoint.size() == endpoint.find("://") + 3) return bad("the path is empty");
    return Status::Ok();
  }
  if (!StartsWith(endpoint, "tcp://")) {
    return bad("unknown transport");
  }
  std::string rest = endpoint.substr(6);
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = rest.substr(0, colon);
  std::string port = rest.substr(colon + 1);
  if (host.empty()) return bad("no host");
  if (port == "*") return bad("'*' is for binding; connect to the port the scheduler chose");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return bad("port '" + port + "' is not a number");
  }
  int number = std::atoi(port.c_str());
  if (number < 1 || number > 65535) return bad("port " + port + " is out of range 1..65535");
  return Status::Ok();
}

}  // namespace receta::net
