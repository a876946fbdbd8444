#include "common/os/thread_policy.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include <string>

namespace receta {
namespace {

Status SetPolicy(int policy, const char* name) {
  sched_param param{};
  param.sched_priority = 0;
  // pid 0: the calling thread only (Linux applies policies per thread).
  if (sched_setscheduler(0, policy, &param) != 0) {
    return Status::Error(std::string("cannot run this thread under ") + name + ": " +
                         strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status RunThisThreadAsBatch() { return SetPolicy(SCHED_BATCH, "SCHED_BATCH"); }

Status RunThisThreadNormally() { return SetPolicy(SCHED_OTHER, "SCHED_OTHER"); }

}  // namespace receta
