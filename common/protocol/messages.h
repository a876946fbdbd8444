#pragma once
// receta's wire protocol: every message that crosses a ZeroMQ socket between
// the scheduler (ROUTER), its workers (DEALER) and the CLI (DEALER).
//
// Each struct says who sends it, when, and what answers it (mesos's
// messages.proto is the model). Framing, version rules and limits are in
// common/protocol/README.md; the msgpack codec is common/protocol/codec.h and
// the checks on decoded messages are common/protocol/validate.h.
//
// Conventions:
// - A digest is SHA-256 as 64 lowercase hex characters: the form used in CAS
//   file names, logs and --json output, so a digest reads the same everywhere.
// - Paths in inputs, outputs and manifests are relative to the workspace or
//   sandbox root, use '/', and have no '.', '..' or empty components.
// - Every field listed in Fields() is required on the wire, except a
//   std::optional one, which may be absent. Fields added to a message after
//   version 1 must be std::optional so older senders stay readable; unknown
//   fields from newer senders are ignored.
//
// Why explicit Fields() rather than MSGPACK_DEFINE_MAP: msgpack's map adaptor
// leaves a missing field at its default silently and reports a wrong type as
// a bare msgpack::type_error; the codec walks Fields() instead, so a missing
// field or a wrong type is an error that names the field ("Dispatch: field
// 'inputs[2].digest' has the wrong type: expected string, got integer").
// Fields() takes the struct as a template parameter so one list serves both
// encoding (const) and decoding (mutable).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace receta::protocol {

/// The version every envelope carries. Bump it for any change an older peer
/// could misread (a renamed or retyped field, a changed meaning); adding a
/// message type or an optional field does not need a bump.
inline constexpr uint32_t kProtocolVersion = 1;

/// Marks a std::string field that holds arbitrary bytes: packed as msgpack
/// bin, not str, so decoders in other languages do not expect UTF-8.
struct AsBytes {};
inline constexpr AsBytes kAsBytes{};

/// The wire number of each message. Never reuse or renumber a value.
enum class MessageType : uint16_t {
  kError = 1,
  kRegister = 2,
  kRegisterAck = 3,
  kHeartbeat = 4,
  kDispatch = 5,
  kAttemptStarted = 6,
  kLogChunk = 7,
  kAttemptFinished = 8,
  kAttemptFinishedAck = 9,
  kKillAttempt = 10,
  kBlobQuery = 11,
  kBlobMissing = 12,
  kBlobPutBegin = 13,
  kBlobPutCredit = 14,
  kBlobPutChunk = 15,
  kBlobPutEnd = 16,
  kBlobPutDone = 17,
  kBlobGet = 18,
  kBlobGetChunk = 19,
  kSubmitRun = 20,
  kSubmitReply = 21,
  kListRuns = 22,
  kListRunsReply = 23,
  kRunStatus = 24,
  kRunStatusReply = 25,
  kEvents = 26,
  kEventsReply = 27,
  kLogs = 28,
  kLogsReply = 29,
  kCancel = 30,
  kCancelReply = 31,
  kListWorkers = 32,
  kListWorkersReply = 33,
  kListArtifacts = 34,
  kListArtifactsReply = 35,
  kCacheList = 36,
  kCacheListReply = 37,
  kCacheRemove = 38,
  kCacheRemoveReply = 39,
  kCacheGc = 40,
  kCacheGcReply = 41,
  kRetryRun = 42,
  kRetryRunReply = 43,
  kBlobDamaged = 44,
  kBlobDamagedReply = 45,
};

/// What went wrong, for an Error reply. Receivers must accept values they do
/// not know (treat them as kInternal).
enum class ErrorCode : uint16_t {
  kBadMessage = 1,          // undecodable or failed validation
  kUnsupportedVersion = 2,  // envelope version differs from kProtocolVersion
  kUnknownType = 3,         // message type this peer does not know
  kNotFound = 4,            // run, step, attempt or blob does not exist
  kInvalidArgument = 5,     // e.g. a DAG that fails validation at submit
  kConflict = 6,            // e.g. uploaded bytes do not match the digest
  kUnauthorized = 7,        // peer not on the key allow-list
  kInternal = 8,            // a bug or an I/O failure on the replying side
};

// ---- Shared records --------------------------------------------------------

inline constexpr std::string_view kInputKindFile = "file";
inline constexpr std::string_view kInputKindDir = "dir";  // digest names a tree blob
/// Only in a Dispatch with after_attempt: the files that attempt (on the
/// same worker) produced at or under `path`; digest empty, size 0.
inline constexpr std::string_view kInputKindUpstream = "upstream";

/// An input a worker must place in the sandbox before running the step.
struct InputFile {
  std::string path;
  std::string digest;
  std::string kind;  // kInputKindFile, kInputKindDir or kInputKindUpstream
  uint64_t size_bytes = 0;
  std::optional<bool> executable;  // placed with its execute bit (absent: no)
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("path", s.path); v("digest", s.digest); v("kind", s.kind); v("size_bytes", s.size_bytes);
    v("executable", s.executable);
  }
  bool operator==(const InputFile&) const = default;
};

/// One file of a manifest: a workspace file at submit, or a step's output.
struct FileEntry {
  std::string path;
  std::string digest;
  uint64_t size_bytes = 0;
  bool executable = false;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("path", s.path); v("digest", s.digest); v("size_bytes", s.size_bytes);
    v("executable", s.executable);
  }
  bool operator==(const FileEntry&) const = default;
};

/// What a step needs from its worker. cpus may be fractional (0.5).
struct Resources {
  double cpus = 0;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("cpus", s.cpus); v("memory_bytes", s.memory_bytes); v("gpus", s.gpus);
  }
  bool operator==(const Resources&) const = default;
};

// ---- Any direction -----------------------------------------------------------

/// Sent by any peer in reply to a request it cannot serve, or to a message it
/// cannot decode (request_id echoed when the header was readable, else 0).
/// Not answered.
struct Error {
  static constexpr MessageType kType = MessageType::kError;
  static constexpr std::string_view kName = "Error";
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for the person who must fix it
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("code", s.code); v("message", s.message);
  }
  bool operator==(const Error&) const = default;
};

// ---- Worker <-> scheduler ----------------------------------------------------

/// Sent by a worker when it connects or reconnects (including after the
/// scheduler restarted or declared it lost). worker_id is generated once and
/// kept in the worker's data dir. Answered by RegisterAck, or by Error
/// (kUnsupportedVersion, kUnauthorized).
/// Register.features: takes Dispatch.after_attempt, inputs of kind
/// kInputKindUpstream and Dispatch.unless_upstream_made.
inline constexpr std::string_view kFeatureAfterAttempt = "after_attempt";

struct Register {
  static constexpr MessageType kType = MessageType::kRegister;
  static constexpr std::string_view kName = "Register";
  std::string worker_id;
  std::string name;
  std::string hostname;
  std::vector<std::string> labels;
  uint32_t slots = 0;  // attempts it will run at once
  uint32_t cpus = 0;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;
  std::string os;              // e.g. "linux-x86_64"
  std::string receta_version;  // e.g. "0.1.0"
  std::vector<std::string> running_attempt_ids;  // still running from before
  /// What this worker understands beyond the base protocol, e.g.
  /// kFeatureAfterAttempt. Why: a worker of an older build, which lacks
  /// the field, is never sent what it would refuse.
  std::optional<std::vector<std::string>> features;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("worker_id", s.worker_id); v("name", s.name); v("hostname", s.hostname);
    v("labels", s.labels); v("slots", s.slots); v("cpus", s.cpus);
    v("memory_bytes", s.memory_bytes); v("gpus", s.gpus); v("os", s.os);
    v("receta_version", s.receta_version); v("running_attempt_ids", s.running_attempt_ids);
    v("features", s.features);
  }
  bool operator==(const Register&) const = default;
};

/// Sent by the scheduler in reply to Register. The worker kills every attempt
/// in stale_attempt_ids (fenced: their results would be ignored), and from
/// now on heartbeats every heartbeat_interval_ms; either side declares the
/// other lost after heartbeat_liveness intervals of silence. Not answered.
struct RegisterAck {
  static constexpr MessageType kType = MessageType::kRegisterAck;
  static constexpr std::string_view kName = "RegisterAck";
  std::string worker_id;
  uint32_t heartbeat_interval_ms = 0;
  uint32_t heartbeat_liveness = 0;
  std::vector<std::string> stale_attempt_ids;
  std::string scheduler_version;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("worker_id", s.worker_id); v("heartbeat_interval_ms", s.heartbeat_interval_ms);
    v("heartbeat_liveness", s.heartbeat_liveness); v("stale_attempt_ids", s.stale_attempt_ids);
    v("scheduler_version", s.scheduler_version);
  }
  bool operator==(const RegisterAck&) const = default;
};

/// Sent by a registered worker and by the scheduler, each on its own timer
/// when it has sent nothing else for an interval (Paranoid Pirate). Any
/// message counts as a sign of life. Not answered. From the scheduler both
/// fields are empty; from a worker they let the scheduler reconcile.
struct Heartbeat {
  static constexpr MessageType kType = MessageType::kHeartbeat;
  static constexpr std::string_view kName = "Heartbeat";
  uint32_t free_slots = 0;
  std::vector<std::string> running_attempt_ids;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("free_slots", s.free_slots); v("running_attempt_ids", s.running_attempt_ids);
  }
  bool operator==(const Heartbeat&) const = default;
};

/// Sent by the scheduler to start one attempt of a step on a worker with a
/// free slot. The worker fetches missing inputs (BlobGet), then answers with
/// AttemptStarted, LogChunks and finally AttemptFinished. The worker kills
/// the process group (TERM, then KILL) after timeout_ms; 0 means no limit.
/// The bytes of one small blob carried inside a message: an input in
/// Dispatch, an output in AttemptFinished.
struct InlineBlob {
  std::string digest;
  std::string data;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("data", s.data);
  }
  bool operator==(const InlineBlob&) const = default;
};

/// The most blob bytes a Dispatch or an AttemptFinished carries inline. Why
/// inline: a separate download or upload is a round trip or two and several
/// messages more per step, which for small files cost more than the step
/// itself. Larger blobs go through BlobGet / BlobPutBegin with flow control.
inline constexpr uint64_t kMaxInlineBlobBytes = 256u << 10;

struct Dispatch {
  static constexpr MessageType kType = MessageType::kDispatch;
  static constexpr std::string_view kName = "Dispatch";
  std::string run_id;
  std::string step;
  std::string attempt_id;  // unique; every later message about it carries it
  std::string command;     // rendered, run with /bin/sh -c in the sandbox
  std::map<std::string, std::string> env;
  std::vector<InputFile> inputs;
  std::vector<std::string> outputs;  // declared output paths
  uint64_t timeout_ms = 0;
  Resources resources;
  /// Bytes of small inputs (distinct digests, kMaxInlineBlobBytes in all),
  /// so the worker need not fetch them; it still verifies each digest.
  std::optional<std::vector<InlineBlob>> inline_blobs;
  /// A speculative dispatch (a chain's next step, sent while its one
  /// unfinished upstream still runs on this worker): start only once this
  /// attempt has succeeded here, taking its outputs for the inputs of kind
  /// kInputKindUpstream. Why: the step starts the moment its upstream ends,
  /// not a scheduler round trip later. The scheduler decides: when the
  /// upstream's result does not make the step run (it failed, its gate
  /// failed, the step turned out cached) it sends KillAttempt.
  std::optional<std::string> after_attempt;
  /// With after_attempt: UpstreamManifest values (common/cache/
  /// upstream_manifest.h) for which the step may be a cache hit. When that
  /// attempt's outputs give one of them, the worker drops this dispatch
  /// without starting or reporting it; the scheduler, seeing the same, then
  /// decides about the step as if it had never been sent.
  std::optional<std::vector<std::string>> unless_upstream_made;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("step", s.step); v("attempt_id", s.attempt_id);
    v("command", s.command); v("env", s.env); v("inputs", s.inputs); v("outputs", s.outputs);
    v("timeout_ms", s.timeout_ms); v("resources", s.resources); v("inline_blobs", s.inline_blobs);
    v("after_attempt", s.after_attempt); v("unless_upstream_made", s.unless_upstream_made);
  }
  bool operator==(const Dispatch&) const = default;
};

/// Sent by a worker once the attempt's process has started and either
/// printed something or run for kStartedAfterMs. A step that ends sooner is
/// reported by AttemptFinished alone (its duration_ms says when it started):
/// for a step of a few milliseconds this message cost the scheduler a turn
/// for nothing anyone could see. Not answered; if the attempt is no longer
/// current the scheduler sends KillAttempt.
inline constexpr int64_t kStartedAfterMs = 20;
struct AttemptStarted {
  static constexpr MessageType kType = MessageType::kAttemptStarted;
  static constexpr std::string_view kName = "AttemptStarted";
  std::string attempt_id;
  uint32_t pid = 0;  // of the process group leader
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("pid", s.pid);
  }
  bool operator==(const AttemptStarted&) const = default;
};

inline constexpr std::string_view kStdout = "stdout";
inline constexpr std::string_view kStderr = "stderr";

/// Sent by a worker while an attempt runs, for output it read from the
/// process. seq counts chunks of the attempt from 0 across both streams;
/// offset is where `data` starts in everything the attempt printed (both
/// streams, in the order read; absent from older workers: the chunk then
/// continues the log). Delivery is at least once: the worker keeps
/// an attempt's chunks until its AttemptFinishedAck and sends them all again
/// after every RegisterAck, so the scheduler keeps only the bytes past what
/// it already has (by offset) and a chunk lost in a crashed scheduler's
/// socket still reaches the log. Not answered.
struct LogChunk {
  static constexpr MessageType kType = MessageType::kLogChunk;
  static constexpr std::string_view kName = "LogChunk";
  std::string attempt_id;
  std::string stream;  // kStdout or kStderr
  uint64_t seq = 0;
  std::string data;    // raw bytes
  std::optional<uint64_t> offset;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("stream", s.stream); v("seq", s.seq);
    v("data", s.data, kAsBytes); v("offset", s.offset);
  }
  bool operator==(const LogChunk&) const = default;
};

/// Sent by a worker when an attempt ends: the process exited or was killed,
/// or it never started (inputs could not be fetched: exit_code -1 and error
/// set). Outputs missing from the CAS are uploaded (BlobQuery, BlobPut*)
/// before this is sent. Answered by AttemptFinishedAck; the worker re-sends
/// it (also after reconnecting) until acknowledged.
struct AttemptFinished {
  static constexpr MessageType kType = MessageType::kAttemptFinished;
  static constexpr std::string_view kName = "AttemptFinished";
  std::string attempt_id;
  int32_t exit_code = 0;   // -1 when the process did not exit by itself
  int32_t signal = 0;      // terminating signal, 0 if none
  bool timed_out = false;  // killed because timeout_ms passed
  std::vector<FileEntry> outputs;
  uint64_t duration_ms = 0;
  uint64_t cpu_ms = 0;
  uint64_t max_rss_bytes = 0;
  std::string error;  // empty on a clean run; else what went wrong
  /// True when the failure is the worker's or the system's, not the step's:
  /// an input that could not be fetched, an upload that failed, a full disk,
  /// a kill because the worker lost the scheduler or shut down. The
  /// scheduler retries those elsewhere without using up the step's retries.
  std::optional<bool> system_failure;
  /// Bytes of outputs (distinct digests, kMaxInlineBlobBytes in all) the
  /// scheduler stores in its CAS when it accepts the result; every other
  /// output was uploaded before.
  std::optional<std::vector<InlineBlob>> inline_blobs;
  /// Bytes the attempt printed in all (the end of its last LogChunk), so the
  /// scheduler can tell a complete log from one that lost bytes.
  std::optional<uint64_t> log_bytes;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("exit_code", s.exit_code); v("signal", s.signal);
    v("timed_out", s.timed_out); v("outputs", s.outputs); v("duration_ms", s.duration_ms);
    v("cpu_ms", s.cpu_ms); v("max_rss_bytes", s.max_rss_bytes); v("error", s.error);
    v("system_failure", s.system_failure); v("inline_blobs", s.inline_blobs);
    v("log_bytes", s.log_bytes);
  }
  bool operator==(const AttemptFinished&) const = default;
};

/// Sent by the scheduler once it has persisted an AttemptFinished (or has
/// ignored it as stale). The worker then forgets the attempt. Not answered.
struct AttemptFinishedAck {
  static constexpr MessageType kType = MessageType::kAttemptFinishedAck;
  static constexpr std::string_view kName = "AttemptFinishedAck";
  std::string attempt_id;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("attempt_id", s.attempt_id); }
  bool operator==(const AttemptFinishedAck&) const = default;
};

/// Sent by the scheduler to stop an attempt: run cancelled, attempt stale, or
/// scheduler-side timeout. The worker sends TERM to the process group, KILL
/// after grace_ms, then AttemptFinished. Unknown attempt ids are ignored.
struct KillAttempt {
  static constexpr MessageType kType = MessageType::kKillAttempt;
  static constexpr std::string_view kName = "KillAttempt";
  std::string attempt_id;
  std::string reason;
  uint32_t grace_ms = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("reason", s.reason); v("grace_ms", s.grace_ms);
  }
  bool operator==(const KillAttempt&) const = default;
};

// ---- Blobs (CLI or worker -> scheduler's CAS) --------------------------------
// Chunk bytes travel as a raw ZeroMQ frame after the header frame of
// BlobPutChunk and BlobGetChunk; `length` must equal that frame's size.

/// Sent by the CLI before SubmitRun and by a worker before uploading outputs.
/// Answered by BlobMissing.
struct BlobQuery {
  static constexpr MessageType kType = MessageType::kBlobQuery;
  static constexpr std::string_view kName = "BlobQuery";
  std::vector<std::string> digests;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("digests", s.digests); }
  bool operator==(const BlobQuery&) const = default;
};

/// Sent by the scheduler in reply to BlobQuery: the queried digests its CAS
/// lacks, in query order. The sender uploads exactly these.
struct BlobMissing {
  static constexpr MessageType kType = MessageType::kBlobMissing;
  static constexpr std::string_view kName = "BlobMissing";
  std::vector<std::string> digests;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("digests", s.digests); }
  bool operator==(const BlobMissing&) const = default;
};

/// Sent by an uploader to start storing one blob. Answered by BlobPutCredit
/// (go ahead), BlobPutDone (already stored) or Error.
struct BlobPutBegin {
  static constexpr MessageType kType = MessageType::kBlobPutBegin;
  static constexpr std::string_view kName = "BlobPutBegin";
  std::string digest;
  uint64_t size_bytes = 0;
  /// Set by a worker uploading an attempt's output: the scheduler refuses
  /// the upload (kConflict) when that attempt is no longer current, so a
  /// stale attempt's artifacts never enter the CAS.
  std::optional<std::string> attempt_id;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("size_bytes", s.size_bytes); v("attempt_id", s.attempt_id);
  }
  bool operator==(const BlobPutBegin&) const = default;
};

/// Sent by the scheduler after BlobPutBegin and again as it writes chunks to
/// disk: the uploader may send bytes up to offset + credit_bytes. Grants are
/// absolute, so a late or repeated one is harmless. Not answered.
struct BlobPutCredit {
  static constexpr MessageType kType = MessageType::kBlobPutCredit;
  static constexpr std::string_view kName = "BlobPutCredit";
  std::string digest;
  uint64_t offset = 0;  // bytes the scheduler has written so far
  uint64_t credit_bytes = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("offset", s.offset); v("credit_bytes", s.credit_bytes);
  }
  bool operator==(const BlobPutCredit&) const = default;
};

/// Sent by an uploader within its credit, in offset order, followed by one
/// raw frame of `length` bytes. Not answered (credit grants pace it).
struct BlobPutChunk {
  static constexpr MessageType kType = MessageType::kBlobPutChunk;
  static constexpr std::string_view kName = "BlobPutChunk";
  std::string digest;
  uint64_t offset = 0;
  uint64_t length = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("offset", s.offset); v("length", s.length);
  }
  bool operator==(const BlobPutChunk&) const = default;
};

/// Sent by an uploader after its last chunk. The scheduler verifies the
/// digest and answers BlobPutDone, or Error (kConflict) if the bytes do not
/// hash to it; the uploader then starts again with BlobPutBegin.
struct BlobPutEnd {
  static constexpr MessageType kType = MessageType::kBlobPutEnd;
  static constexpr std::string_view kName = "BlobPutEnd";
  std::string digest;
  uint64_t size_bytes = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("size_bytes", s.size_bytes);
  }
  bool operator==(const BlobPutEnd&) const = default;
};

/// Sent by the scheduler when the blob is in its CAS, verified.
struct BlobPutDone {
  static constexpr MessageType kType = MessageType::kBlobPutDone;
  static constexpr std::string_view kName = "BlobPutDone";
  std::string digest;
  uint64_t size_bytes = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("size_bytes", s.size_bytes);
  }
  bool operator==(const BlobPutDone&) const = default;
};

/// Sent by a worker to fetch one chunk of a blob it lacks. Credit-based flow
/// control (zguide "file transfer"): the worker keeps at most its credit of
/// BlobGets in flight and sends the next when a chunk arrives. Answered by
/// BlobGetChunk, or Error (kNotFound).
struct BlobGet {
  static constexpr MessageType kType = MessageType::kBlobGet;
  static constexpr std::string_view kName = "BlobGet";
  std::string digest;
  uint64_t offset = 0;
  uint64_t length = 0;  // at most kMaxBlobChunkBytes
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("offset", s.offset); v("length", s.length);
  }
  bool operator==(const BlobGet&) const = default;
};

/// Sent by the scheduler in reply to BlobGet, followed by one raw frame of
/// `length` bytes (shorter than asked at the end of the blob).
struct BlobGetChunk {
  static constexpr MessageType kType = MessageType::kBlobGetChunk;
  static constexpr std::string_view kName = "BlobGetChunk";
  std::string digest;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t total_size_bytes = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("offset", s.offset); v("length", s.length);
    v("total_size_bytes", s.total_size_bytes);
  }
  bool operator==(const BlobGetChunk&) const = default;
};

/// Sent by a worker or the CLI whose download of a blob (BlobGet) hashed to
/// `actual_digest`, not to `digest`. The scheduler hashes its own copy: a
/// damaged one is dropped and the steps that made it run again (as a
/// cache hit on it would). Answered by BlobDamagedReply.
/// Why the reader reports instead of the scheduler hashing what it serves:
/// the reader verifies every byte anyway, and hashing each download on the
/// scheduler's one loop thread held every other client up by ~0.55 s per
/// GiB served.
struct BlobDamaged {
  static constexpr MessageType kType = MessageType::kBlobDamaged;
  static constexpr std::string_view kName = "BlobDamaged";
  std::string digest;
  std::string actual_digest;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("actual_digest", s.actual_digest);
  }
  bool operator==(const BlobDamaged&) const = default;
};

/// Sent by the scheduler in reply to BlobDamaged. `dropped`: its copy was
/// damaged (or already gone) and is no longer served; false: its copy
/// hashes to the digest, so the bytes were damaged on the way or at the
/// reader.
struct BlobDamagedReply {
  static constexpr MessageType kType = MessageType::kBlobDamagedReply;
  static constexpr std::string_view kName = "BlobDamagedReply";
  std::string digest;
  bool dropped = false;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("dropped", s.dropped);
  }
  bool operator==(const BlobDamagedReply&) const = default;
};

// ---- CLI -> scheduler ----------------------------------------------------------
// Read replies carry JSON text: the same documents `receta ... --json` prints,
// so read commands can grow fields without protocol changes.

/// Sent by `receta submit` after uploading the blobs BlobMissing named.
/// Answered by SubmitReply, or Error (kInvalidArgument with the DAG's
/// validation errors, kNotFound naming a workspace blob not uploaded).
struct SubmitRun {
  static constexpr MessageType kType = MessageType::kSubmitRun;
  static constexpr std::string_view kName = "SubmitRun";
  std::string dag_yaml;
  std::string dag_file;  // as the user named it, for error messages
  std::map<std::string, std::string> params;  // -p key=value overrides
  bool no_cache = false;
  std::vector<FileEntry> workspace;  // every workspace input the DAG reads
  /// Bytes of workspace files the scheduler lacks (distinct digests,
  /// kMaxInlineBlobBytes in all; others are uploaded first), verified and
  /// stored in the same commit as the run. Why: a blob upload each costs a
  /// round trip and a commit, and a fresh workspace has hundreds of small
  /// files.
  std::optional<std::vector<InlineBlob>> inline_blobs;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("dag_yaml", s.dag_yaml); v("dag_file", s.dag_file); v("params", s.params);
    v("no_cache", s.no_cache); v("workspace", s.workspace); v("inline_blobs", s.inline_blobs);
  }
  bool operator==(const SubmitRun&) const = default;
};

/// Sent by the scheduler once the run is persisted.
struct SubmitReply {
  static constexpr MessageType kType = MessageType::kSubmitReply;
  static constexpr std::string_view kName = "SubmitReply";
  std::string run_id;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("run_id", s.run_id); }
  bool operator==(const SubmitReply&) const = default;
};

/// Sent by `receta runs`. Answered by ListRunsReply.
struct ListRuns {
  static constexpr MessageType kType = MessageType::kListRuns;
  static constexpr std::string_view kName = "ListRuns";
  uint32_t limit = 0;  // newest first; 0 means the scheduler's default
  std::optional<std::string> dag_name;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("limit", s.limit); v("dag_name", s.dag_name);
  }
  bool operator==(const ListRuns&) const = default;
};

/// Sent by the scheduler: a JSON array of run summaries.
struct ListRunsReply {
  static constexpr MessageType kType = MessageType::kListRunsReply;
  static constexpr std::string_view kName = "ListRunsReply";
  std::string runs_json;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("runs_json", s.runs_json); }
  bool operator==(const ListRunsReply&) const = default;
};

/// Sent by `receta status RUN`. Answered by RunStatusReply or Error (kNotFound).
struct RunStatus {
  static constexpr MessageType kType = MessageType::kRunStatus;
  static constexpr std::string_view kName = "RunStatus";
  std::string run_id;
  /// Each step as name, state, worker, started_ms, duration_ms, error and
  /// reason only: what a follower shows, a tenth of the size (a
  /// 100,000-step run's full status is over kMaxMessageBytes).
  std::optional<bool> brief;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("run_id", s.run_id); v("brief", s.brief); }
  bool operator==(const RunStatus&) const = default;
};

/// Sent by the scheduler: a JSON object with the run and its steps.
struct RunStatusReply {
  static constexpr MessageType kType = MessageType::kRunStatusReply;
  static constexpr std::string_view kName = "RunStatusReply";
  std::string run_json;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("run_json", s.run_json); }
  bool operator==(const RunStatusReply&) const = default;
};

/// Sent by `receta watch` and `receta events`: events with seq > after_seq,
/// waiting up to wait_ms for the first one (long poll). Answered by EventsReply.
struct Events {
  static constexpr MessageType kType = MessageType::kEvents;
  static constexpr std::string_view kName = "Events";
  std::optional<std::string> run_id;  // absent: events of every run
  uint64_t after_seq = 0;
  uint32_t limit = 0;  // 0 means the scheduler's default
  uint32_t wait_ms = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("after_seq", s.after_seq); v("limit", s.limit); v("wait_ms", s.wait_ms);
  }
  bool operator==(const Events&) const = default;
};

/// Sent by the scheduler: a JSON array of events and the seq to ask after
/// next (unchanged when the wait ended with no event).
struct EventsReply {
  static constexpr MessageType kType = MessageType::kEventsReply;
  static constexpr std::string_view kName = "EventsReply";
  std::string events_json;
  uint64_t last_seq = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("events_json", s.events_json); v("last_seq", s.last_seq);
  }
  bool operator==(const EventsReply&) const = default;
};

/// Sent by `receta logs RUN STEP [-f]`: log bytes of the step's latest
/// attempt (or attempt_id) from byte `offset` on, waiting up to wait_ms when
/// there are none yet. Answered by LogsReply or Error (kNotFound).
struct Logs {
  static constexpr MessageType kType = MessageType::kLogs;
  static constexpr std::string_view kName = "Logs";
  std::string run_id;
  std::string step;
  std::optional<std::string> attempt_id;
  uint64_t offset = 0;
  uint32_t wait_ms = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("step", s.step); v("attempt_id", s.attempt_id);
    v("offset", s.offset); v("wait_ms", s.wait_ms);
  }
  bool operator==(const Logs&) const = default;
};

/// Sent by the scheduler: interleaved stdout and stderr bytes; `finished`
/// when the attempt has ended and nothing follows next_offset.
struct LogsReply {
  static constexpr MessageType kType = MessageType::kLogsReply;
  static constexpr std::string_view kName = "LogsReply";
  std::string attempt_id;
  std::string data;
  uint64_t next_offset = 0;
  bool finished = false;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("data", s.data, kAsBytes); v("next_offset", s.next_offset);
    v("finished", s.finished);
  }
  bool operator==(const LogsReply&) const = default;
};

/// Sent by `receta cancel RUN`: cancels the run's unfinished steps (KillAttempt
/// for running ones). Answered by CancelReply or Error (kNotFound).
struct Cancel {
  static constexpr MessageType kType = MessageType::kCancel;
  static constexpr std::string_view kName = "Cancel";
  std::string run_id;
  std::string reason;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("reason", s.reason);
  }
  bool operator==(const Cancel&) const = default;
};

/// Sent by the scheduler once the cancellation is persisted.
struct CancelReply {
  static constexpr MessageType kType = MessageType::kCancelReply;
  static constexpr std::string_view kName = "CancelReply";
  std::string run_id;
  uint32_t cancelled_steps = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("cancelled_steps", s.cancelled_steps);
  }
  bool operator==(const CancelReply&) const = default;
};

/// Sent by `receta workers`. Answered by ListWorkersReply.
struct ListWorkers {
  static constexpr MessageType kType = MessageType::kListWorkers;
  static constexpr std::string_view kName = "ListWorkers";
  bool include_lost = true;  // also workers not heard from lately
  template <typename S, typename V> static void Fields(S& s, V& v) { v("include_lost", s.include_lost); }
  bool operator==(const ListWorkers&) const = default;
};

/// Sent by the scheduler: a JSON array of workers (id, name, host, labels,
/// slots, used slots, resources, last heartbeat, connected).
struct ListWorkersReply {
  static constexpr MessageType kType = MessageType::kListWorkersReply;
  static constexpr std::string_view kName = "ListWorkersReply";
  std::string workers_json;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("workers_json", s.workers_json); }
  bool operator==(const ListWorkersReply&) const = default;
};

/// Sent by `receta artifacts ls|get`: the output files of a run's steps (one
/// step when `step` is set). Answered by ListArtifactsReply or Error
/// (kNotFound). `artifacts get` then fetches the digest with BlobGet.
struct ListArtifacts {
  static constexpr MessageType kType = MessageType::kListArtifacts;
  static constexpr std::string_view kName = "ListArtifacts";
  std::string run_id;
  std::optional<std::string> step;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("step", s.step);
  }
  bool operator==(const ListArtifacts&) const = default;
};

/// Sent by the scheduler: a JSON array of {step, path, digest, size_bytes,
/// executable}.
struct ListArtifactsReply {
  static constexpr MessageType kType = MessageType::kListArtifactsReply;
  static constexpr std::string_view kName = "ListArtifactsReply";
  std::string artifacts_json;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("artifacts_json", s.artifacts_json);
  }
  bool operator==(const ListArtifactsReply&) const = default;
};

/// Sent by `receta cache ls`. Answered by CacheListReply.
struct CacheList {
  static constexpr MessageType kType = MessageType::kCacheList;
  static constexpr std::string_view kName = "CacheList";
  std::optional<std::string> dag_name;
  std::optional<std::string> step;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("dag_name", s.dag_name); v("step", s.step);
  }
  bool operator==(const CacheList&) const = default;
};

/// Sent by the scheduler: a JSON array of cache entries (key, dag, step,
/// run that made it, created, outputs, total size).
struct CacheListReply {
  static constexpr MessageType kType = MessageType::kCacheListReply;
  static constexpr std::string_view kName = "CacheListReply";
  std::string entries_json;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("entries_json", s.entries_json); }
  bool operator==(const CacheListReply&) const = default;
};

/// Sent by `receta cache rm`: removes the entry `key`, or every entry made by
/// step `step` of DAG `dag_name`. Answered by CacheRemoveReply or Error
/// (kInvalidArgument when neither form is given, kNotFound).
struct CacheRemove {
  static constexpr MessageType kType = MessageType::kCacheRemove;
  static constexpr std::string_view kName = "CacheRemove";
  std::optional<std::string> key;
  std::optional<std::string> dag_name;
  std::optional<std::string> step;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("key", s.key); v("dag_name", s.dag_name); v("step", s.step);
  }
  bool operator==(const CacheRemove&) const = default;
};

/// Sent by the scheduler once the removal is persisted.
struct CacheRemoveReply {
  static constexpr MessageType kType = MessageType::kCacheRemoveReply;
  static constexpr std::string_view kName = "CacheRemoveReply";
  uint32_t removed = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) { v("removed", s.removed); }
  bool operator==(const CacheRemoveReply&) const = default;
};

/// Sent by `receta cache gc`: removes CAS blobs that no cache entry and no
/// recent or unfinished run references. Answered by CacheGcReply.
struct CacheGc {
  static constexpr MessageType kType = MessageType::kCacheGc;
  static constexpr std::string_view kName = "CacheGc";
  uint32_t keep_runs = 0;  // newest runs whose blobs are kept; 0: the default
  template <typename S, typename V> static void Fields(S& s, V& v) { v("keep_runs", s.keep_runs); }
  bool operator==(const CacheGc&) const = default;
};

/// Sent by the scheduler when collection is done.
struct CacheGcReply {
  static constexpr MessageType kType = MessageType::kCacheGcReply;
  static constexpr std::string_view kName = "CacheGcReply";
  uint64_t blobs_removed = 0;
  uint64_t bytes_freed = 0;
  uint64_t blobs_kept = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("blobs_removed", s.blobs_removed); v("bytes_freed", s.bytes_freed); v("blobs_kept", s.blobs_kept);
  }
  bool operator==(const CacheGcReply&) const = default;
};

/// Sent by `receta retry`: resumes a failed or cancelled run. Steps that
/// succeeded or were cached keep their results; failed, skipped and
/// cancelled steps (only `step` and what is downstream of it, when given)
/// run again under the same run id. Answered by RetryRunReply.
struct RetryRun {
  static constexpr MessageType kType = MessageType::kRetryRun;
  static constexpr std::string_view kName = "RetryRun";
  std::string run_id;
  std::string step;  // empty: every step that did not succeed
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("step", s.step);
  }
  bool operator==(const RetryRun&) const = default;
};

/// Sent by the scheduler once the resumed run is persisted.
struct RetryRunReply {
  static constexpr MessageType kType = MessageType::kRetryRunReply;
  static constexpr std::string_view kName = "RetryRunReply";
  std::string run_id;
  uint32_t steps_reset = 0;  // steps that will run (or be looked up in the cache) again
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("steps_reset", s.steps_reset);
  }
  bool operator==(const RetryRunReply&) const = default;
};

/// Any one message. Alternatives are in MessageType order.
using Message =
    std::variant<Error, Register, RegisterAck, Heartbeat, Dispatch, AttemptStarted, LogChunk,
                 AttemptFinished, AttemptFinishedAck, KillAttempt, BlobQuery, BlobMissing,
                 BlobPutBegin, BlobPutCredit, BlobPutChunk, BlobPutEnd, BlobPutDone, BlobGet,
                 BlobGetChunk, SubmitRun, SubmitReply, ListRuns, ListRunsReply, RunStatus,
                 RunStatusReply, Events, EventsReply, Logs, LogsReply, Cancel, CancelReply,
                 ListWorkers, ListWorkersReply, ListArtifacts, ListArtifactsReply, CacheList,
                 CacheListReply, CacheRemove, CacheRemoveReply, CacheGc, CacheGcReply, RetryRun,
                 RetryRunReply, BlobDamaged, BlobDamagedReply>;

/// The wire number of the message held.
inline MessageType TypeOf(const Message& message) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, message);
}

/// The struct name of the message held, for logs and errors.
inline std::string_view NameOf(const Message& message) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kName; }, message);
}

}  // namespace receta::protocol
