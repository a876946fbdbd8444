#pragma once
// How the orchestrator's own threads share the CPUs with the steps it runs.
//
// Why: the scheduler and the worker's bookkeeping (sockets, reports, the
// database) wake many times per step, each time for microseconds of work.
// Under the normal policy each wake-up may preempt a running step on its
// CPU, and a step preempted a few times per run loses more than the time
// taken: its caches are cold when it gets the CPU back. Under SCHED_BATCH
// a waking thread never preempts; it runs on an idle CPU or when the
// running task's slice ends, with the same share of CPU time as before
// (nice and weight unchanged). Measured on 2 CPUs with the scheduler and
// two workers on one machine (bench/README.md): chains of short steps
// 5-10% faster end to end, and a fan-out of 1,000 steps about 10%.
//
// The threads that carry a step's critical path (spawning it, waiting for
// its exit, handing its outputs to the next step) and the steps themselves
// keep the normal policy: RunThisThreadNormally().

#include "common/status.h"

namespace receta {

/// The calling thread, and threads and processes it starts from now on,
/// run under SCHED_BATCH. Call at the top of main, before any thread.
/// Error (with errno text) if the kernel refuses; nothing changes then.
Status RunThisThreadAsBatch();

/// The calling thread (and what it starts) runs under the normal policy.
Status RunThisThreadNormally();

/// Lets a thread just woken to start the next step run before the caller,
/// which has only bookkeeping left (thread_policy.cpp says why).
void YieldToWokenStepStarter();

}  // namespace receta
