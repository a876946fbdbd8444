#pragma once
// Changes: what one turn of the scheduler's core decided, for the loop to
// persist (one synced WriteBatch) and only then act on (send). The core
// never does I/O itself; it appends here.

#include <string>
#include <utility>
#include <vector>

#include "common/protocol/messages.h"
#include "scheduler/alert.h"
#include "scheduler/records.h"

namespace receta::scheduler {

/// A message for one registered worker, by worker id.
struct Outgoing {
  std::string worker_id;
  protocol::Message message;
  uint64_t request_id = 0;
};

struct Changes {
  std::vector<RunRecord> runs;
  std::vector<StepRecord> steps;
  std::vector<CacheEntry> cache_puts;
  std::vector<std::string> cache_deletes;
  /// Cache families (Run::CacheFamilyOf) of the entries put, each with the
  /// UpstreamManifest it was made from; never deleted.
  std::vector<CacheFamilyMember> cache_families;
  std::vector<BlobRecord> blobs;
  std::vector<std::string> blob_deletes;
  std::vector<WorkerRecord> workers;
  std::vector<EventRecord> events;
  std::vector<Outgoing> messages;
  /// Alerts to deliver once the turn is committed (not persisted: an alert
  /// is raised by a transition that is).
  std::vector<Alert> alerts;

  /// True when nothing needs persisting (messages aside).
  bool NothingToPersist() const {
    return runs.empty() && steps.empty() && cache_puts.empty() && cache_deletes.empty() &&
           cache_families.empty() && blobs.empty() && blob_deletes.empty() && workers.empty() &&
           events.empty();
  }
};

}  // namespace receta::scheduler
