#pragma once
// What a worker tells the scheduler about itself when it registers: its
// stable id and the machine it runs on.

#include <cstdint>
#include <string>

#include "common/status.h"

namespace receta::worker {

/// The worker id kept in `work_dir`/worker_id (16 lowercase hex characters),
/// generated and written the first time. A corrupt file is replaced.
Result<std::string> LoadOrCreateWorkerId(const std::string& work_dir);

struct MachineInfo {
  std::string hostname;
  uint32_t cpus = 0;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;   // lines "GPU N: ..." of `nvidia-smi -L`; 0 without it
  std::string os;      // "linux-x86_64": uname's system, lowercased, and machine
};

/// Reads the machine's facts (runs nvidia-smi when it is on PATH).
MachineInfo ReadMachineInfo();

/// Pure: the number of GPU lines in `nvidia-smi -L` output.
uint32_t CountGpus(const std::string& nvidia_smi_output);

}  // namespace receta::worker
