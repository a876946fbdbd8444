#include "worker/disk_full.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

namespace receta::worker {

bool SaysDiskFull(std::string_view error) {
  return error.find(strerror(ENOSPC)) != std::string_view::npos;
}

std::optional<std::string> DiskFullNote(const std::string& path) {
  struct statvfs fs;
  if (statvfs(path.c_str(), &fs) != 0) return std::nullopt;
  uint64_t free_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
  if (free_bytes >= kDiskFullBelowBytes) return std::nullopt;
  return "the disk holding " + path + " is full (" + std::to_string(free_bytes) +
         " bytes free), so this counts as the worker's failure";
}

}  // namespace receta::worker
