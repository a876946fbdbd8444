#pragma once
// What an upstream step gave a downstream step: one digest over the
// manifests of the downstream step's inputs that upstream step produced.
// Speculative dispatch (SchedulerCore::Speculate) compares it on both
// sides: the scheduler records it with each cache entry's family
// (Run::CacheFamilyOf) and sends the recorded ones with a step it sends
// ahead; the worker computes it from the upstream's result and, when it is
// one of them (the step may be a cache hit), does not start the step, and
// the scheduler, computing the same, does not count it as started. Pure.

#include <string>
#include <vector>

#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta {

/// SHA-256 (hex) over each of `input_paths` (sorted, each once) and the
/// ManifestDigest of `upstream_outputs` at or under it. An error when some
/// path has no file.
Result<std::string> UpstreamManifest(std::vector<std::string> input_paths,
                                     const std::vector<protocol::FileEntry>& upstream_outputs);

}  // namespace receta
