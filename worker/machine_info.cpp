#include "worker/machine_info.h"

#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "worker/process.h"

namespace receta::worker {
namespace {

bool IsWorkerId(const std::string& text) {
  if (text.size() != 16) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The full path of `program` in $PATH, or "".
std::string FindOnPath(const std::string& program) {
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

Result<std::string> LoadOrCreateWorkerId(const std::string& work_dir) {
  std::string path = work_dir + "/worker_id";
  std::ifstream in(path);
  std::string id;
  if (in >> id && IsWorkerId(id)) return id;
  std::random_device random;
  std::mt19937_64 rng((uint64_t{random()} << 32) ^ random());
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(rng()));
  id = hex;
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << id << "\n";
    if (!out.good()) {
      return Result<std::string>::Error("cannot write the worker id to " + temp +
                                        " (check --work-dir)");
    }
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return Result<std::string>::Error("cannot write the worker id to " + path);
  }
  return id;
}

uint32_t CountGpus(const std::string& output) {
  uint32_t count = 0;
  std::stringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("GPU ", 0) == 0) ++count;
  }
  return count;
}

MachineInfo ReadMachineInfo() {
  MachineInfo info;
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) info.hostname = host;
  info.cpus = std::thread::hardware_concurrency();
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) info.memory_bytes = uint64_t(pages) * uint64_t(page_size);
  utsname name{};
  if (uname(&name) == 0) {
    std::string system = name.sysname;
    for (char& c : system) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    info.os = system + "-" + name.machine;
  }
  std::string nvidia_smi = FindOnPath("nvidia-smi");
  if (!nvidia_smi.empty()) {
    ProcessSpec spec;
    spec.command = "'" + nvidia_smi + "' -L";
    spec.cwd = "/";
    spec.env = {{"PATH", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"}};
    spec.timeout_ms = 10000;
    spec.timeout_grace_ms = 0;
    if (auto process = Process::Start(spec); process.ok()) {
      std::string out;
      ProcessResult result = (*process)->Wait([&](OutputStream stream, std::string_view bytes) {
        if (stream == OutputStream::kStdout) out.append(bytes);
      });
      if (result.exit_code == 0) info.gpus = CountGpus(out);
    }
  }
  return info;
}

}  // namespace receta::worker
