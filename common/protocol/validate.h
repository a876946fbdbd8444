#pragma once
// Checks on decoded messages, run by the receiver before it acts on one.
// Decode (codec.h) guarantees shape and types; these guarantee meaning:
// ids present, digests well formed, paths that cannot escape a sandbox.
// Pure functions: each returns Ok or an error that starts with the message
// name and names the field ("Dispatch: inputs[0].path '../x' ...").

#include <cstddef>
#include <string_view>

#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::protocol {

/// Ok when `digest` is a SHA-256 as 64 lowercase hex characters.
Status ValidateDigest(std::string_view digest);

/// Ok when `path` is relative, '/'-separated, and has no empty, '.' or '..'
/// component and no NUL: it names a file inside the workspace or sandbox.
Status ValidateRelativePath(std::string_view path);

/// Ok when a chunk's declared length matches the raw frame that followed it.
Status ValidateChunkFrame(uint64_t declared_length, std::size_t frame_bytes);

Status Validate(const Register& m);
Status Validate(const RegisterAck& m);
Status Validate(const Heartbeat& m);
Status Validate(const Dispatch& m);
Status Validate(const AttemptStarted& m);
Status Validate(const LogChunk& m);
Status Validate(const AttemptFinished& m);
Status Validate(const AttemptFinishedAck& m);
Status Validate(const KillAttempt& m);
Status Validate(const BlobQuery& m);
Status Validate(const BlobMissing& m);
Status Validate(const BlobPutBegin& m);
Status Validate(const BlobPutCredit& m);
Status Validate(const BlobPutChunk& m);
Status Validate(const BlobPutEnd& m);
Status Validate(const BlobPutDone& m);
Status Validate(const BlobGet& m);
Status Validate(const BlobGetChunk& m);
Status Validate(const BlobDamaged& m);
Status Validate(const BlobDamagedReply& m);
Status Validate(const SubmitRun& m);
Status Validate(const RunStatus& m);
Status Validate(const Logs& m);
Status Validate(const Cancel& m);
Status Validate(const ListArtifacts& m);
Status Validate(const CacheRemove& m);

/// Runs the Validate overload of the message held; messages without rules
/// (Error, read requests and most replies) are Ok.
Status ValidateMessage(const Message& message);

}  // namespace receta::protocol
