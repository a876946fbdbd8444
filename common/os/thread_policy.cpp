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

// Why: a worker thread whose step ended wakes the thread that starts the
// next one (a freed slot, or a chain's upstream result) and then still has
// outputs to hash and report and a sandbox to empty. Left alone, the kernel
// let it finish its time slice before the woken thread could clone: on the
// benchmark's fan-out the time from a step's exit to the next step's clone
// on the same worker was 0.88 ms at the median (ninja's own: 0.73 ms), and
// 0.72 ms with the yield; in the chain, receta's exit-to-exec gap minus
// ninja's went from 0.40-0.48 ms to about 0.1-0.4 ms (bench/profile.py).
void YieldToWokenStepStarter() { sched_yield(); }

}  // namespace receta
