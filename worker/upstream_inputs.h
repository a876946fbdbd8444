#pragma once
// A speculative Dispatch (Dispatch.after_attempt) names its upstream
// attempt's outputs by path only: the scheduler sent it before they
// existed. Once that attempt has succeeded on this worker, its result gives
// the files; this fills them in. Pure.

#include <string>

#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::worker {

/// Whether `finished` is a clean success, one whose outputs a downstream
/// step may read (exit 0, no signal, no timeout, no error).
bool Succeeded(const protocol::AttemptFinished& finished);

/// Replaces each input of kind kInputKindUpstream in `dispatch` with the
/// files of `upstream`'s outputs at or under its path (sorted by path, one
/// entry per path). An upstream input that matches no output is an error
/// naming it.
Status ResolveUpstreamInputs(protocol::Dispatch& dispatch,
                             const protocol::AttemptFinished& upstream);

/// Whether `upstream` made, for the dispatch's upstream inputs, one of its
/// unless_upstream_made (UpstreamManifest): the step may then be a cache
/// hit, so the worker drops it unstarted and the scheduler decides.
bool UpstreamMadeWhatACachedResultUsed(const protocol::Dispatch& dispatch,
                                       const protocol::AttemptFinished& upstream);

/// What a speculative dispatch becomes once its upstream attempt ended.
struct Settlement {
  enum Kind {
    kKeepWaiting,  // the upstream failed: the scheduler withdraws it (KillAttempt)
    kDrop,         // UpstreamMadeWhatACachedResultUsed: dropped unstarted, unreported
    kStart,        // its upstream inputs are filled in (ResolveUpstreamInputs)
    kFail,         // an upstream input matched no output
  };
  Kind kind;
  std::string why;  // kDrop: why, for the log; kFail: the attempt's error
};
/// Decides, and for kStart fills in the dispatch's upstream inputs.
Settlement Settle(protocol::Dispatch& dispatch, const protocol::AttemptFinished& upstream);

}  // namespace receta::worker
