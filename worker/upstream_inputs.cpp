#include "worker/upstream_inputs.h"

#include <algorithm>

#include "common/cache/upstream_manifest.h"
#include "common/hash/manifest_digest.h"
#include "common/protocol/input_files.h"

namespace receta::worker {

bool Succeeded(const protocol::AttemptFinished& finished) {
  return finished.exit_code == 0 && finished.signal == 0 && !finished.timed_out &&
         finished.error.empty() && !finished.system_failure.value_or(false);
}

Status ResolveUpstreamInputs(protocol::Dispatch& dispatch,
                             const protocol::AttemptFinished& upstream) {
  std::vector<protocol::InputFile> resolved;
  for (protocol::InputFile& input : dispatch.inputs) {
    if (input.kind != protocol::kInputKindUpstream) {
      resolved.push_back(std::move(input));
      continue;
    }
    size_t before = resolved.size();
    for (const protocol::FileEntry& output : upstream.outputs) {
      if (!PathIsAtOrUnder(output.path, input.path)) continue;
      resolved.push_back(protocol::InputFileOf(output));
    }
    if (resolved.size() == before) {
      return Status::Error("input '" + input.path + "': attempt " + upstream.attempt_id +
                           " produced no file at or under it");
    }
  }
  protocol::SortUniqueByPath(resolved);
  dispatch.inputs = std::move(resolved);
  dispatch.after_attempt.reset();
  return Status::Ok();
}

bool UpstreamMadeWhatACachedResultUsed(const protocol::Dispatch& dispatch,
                                       const protocol::AttemptFinished& upstream) {
  if (!dispatch.unless_upstream_made || dispatch.unless_upstream_made->empty()) return false;
  std::vector<std::string> paths;
  for (const protocol::InputFile& input : dispatch.inputs) {
    if (input.kind == protocol::kInputKindUpstream) paths.push_back(input.path);
  }
  Result<std::string> made = UpstreamManifest(std::move(paths), upstream.outputs);
  // Why false on error: ResolveUpstreamInputs then reports the missing input.
  if (!made.ok()) return false;
  const std::vector<std::string>& unless = *dispatch.unless_upstream_made;
  return std::find(unless.begin(), unless.end(), *made) != unless.end();
}

Settlement Settle(protocol::Dispatch& dispatch, const protocol::AttemptFinished& upstream) {
  if (!Succeeded(upstream)) return {Settlement::kKeepWaiting, ""};
  if (UpstreamMadeWhatACachedResultUsed(dispatch, upstream)) {
    return {Settlement::kDrop, "attempt " + upstream.attempt_id +
                                   " made what a cached result of step " + dispatch.step +
                                   " was made from"};
  }
  if (Status s = ResolveUpstreamInputs(dispatch, upstream); !s.ok()) {
    return {Settlement::kFail, "could not place the inputs: " + s.message()};
  }
  return {Settlement::kStart, ""};
}

}  // namespace receta::worker
