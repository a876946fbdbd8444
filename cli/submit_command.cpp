// receta submit: check the DAG locally, hash the workspace inputs, upload
// the blobs the scheduler lacks, submit, print the run id.
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include "cli/cache_pruning.h"
#include "cli/client_commands.h"
#include "cli/dag_plan_cache.h"
#include "cli/table.h"
#include "cli/workspace_inputs.h"
#include "common/dag/dag_load.h"
#include "common/dag/params.h"
#include "common/fs/fd_io.h"
#include "common/hash/stat_cache.h"
#include "common/json/json_writer.h"
#include "common/os/thread_policy.h"
#include "net/blob_transfer.h"

namespace receta::cli {
namespace {

// The persistent stat cache of one workspace: loaded before hashing, saved
// (if hashing changed it) only once the run is submitted. Why then: the
// save syncs the file and its directory, milliseconds the submit need not
// wait for. Trouble with the cache file itself only costs time, so it is a
// warning.
class WorkspaceStatCache {
 public:
  WorkspaceStatCache(const std::string& workspace_root, std::ostream& err)
      : path_(StatCachePathFor(workspace_root)), err_(err) {
    if (path_.empty()) return;
    Result<StatCache> loaded = StatCache::Load(path_);
    if (loaded.ok()) {
      cache_ = std::move(*loaded);
    } else {
      err_ << "receta: warning: " << loaded.error() << " (hashing without it)\n";
    }
  }
  StatCache* get() { return &cache_; }
  void SaveIfChanged() {
    if (path_.empty()) return;
    if (!cache_.dirty()) {
      MarkUsed(path_);  // for pruning: used, though not written
      return;
    }
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);
    if (Status saved = cache_.Save(path_); !saved.ok()) {
      err_ << "receta: warning: could not save the stat cache: " << saved.message()
           << " (the next submit hashes every input again)\n";
      return;
    }
    PruneLeastRecentlyUsed(std::filesystem::path(path_).parent_path().string(), kStatCacheKind,
                           kMaxWorkspaceStatCaches);
  }

 private:
  std::string path_;
  std::ostream& err_;
  StatCache cache_;
};

// The plan of a loaded DAG file, or nullopt once its errors are printed.
std::optional<DagPlan> PlanOf(const LoadedDag& loaded, const std::string& file, std::ostream& err) {
  if (!loaded.ok()) {
    err << loaded.diagnostics.Format();
    size_t count = loaded.diagnostics.size();
    err << count << " error" << (count == 1 ? "" : "s") << " in " << file
        << "; nothing was submitted\n";
    return std::nullopt;
  }
  return DagPlan{loaded.warnings.Format(), WorkspaceInputPaths(*loaded.dag, loaded.graph)};
}

// Gets the files whose digests the scheduler lacks to it: the smallest, up
// to kMaxInlineBlobBytes in all, into `inline_blobs` for the SubmitRun
// (stored with the run, in one commit); the rest uploaded now, one blob
// each (the small ones pipelined: net::UploadBlobs).
Status SendMissing(SchedulerClient& client, const WorkspaceInputs& inputs,
                   std::vector<protocol::InlineBlob>& inline_blobs, std::ostream& err) {
  std::map<std::string, const WorkspaceFile*> by_digest;
  for (const WorkspaceFile& file : inputs.files) by_digest.emplace(file.entry.digest, &file);
  std::vector<std::string> digests;
  for (const auto& [digest, file] : by_digest) digests.push_back(digest);
  Result<std::vector<std::string>> missing =
      net::QueryMissingBlobs(client.connection(), digests, kReadTimeout);
  if (!missing.ok()) return missing.status();
  if (missing->empty()) return Status::Ok();
  uint64_t total_bytes = 0;
  for (const std::string& digest : *missing) {
    auto it = by_digest.find(digest);
    if (it == by_digest.end()) {
      return Status::Error("the scheduler asked for blob " + digest + ", which was not offered");
    }
    total_bytes += it->second->entry.size_bytes;
  }
  err << "uploading " << missing->size() << " file" << (missing->size() == 1 ? "" : "s") << " ("
      << FormatBytes(total_bytes) << ") the scheduler does not have\n";
  std::vector<const WorkspaceFile*> smallest_first;
  for (const std::string& digest : *missing) smallest_first.push_back(by_digest[digest]);
  std::stable_sort(smallest_first.begin(), smallest_first.end(),
                   [](const WorkspaceFile* a, const WorkspaceFile* b) {
                     return a->entry.size_bytes < b->entry.size_bytes;
                   });
  std::vector<net::UploadItem> uploads;
  uint64_t inline_bytes = 0;
  for (const WorkspaceFile* file : smallest_first) {
    const protocol::FileEntry& entry = file->entry;
    if (inline_bytes + entry.size_bytes > protocol::kMaxInlineBlobBytes) {
      uploads.push_back({file->disk_path, entry.digest, entry.size_bytes});
      continue;
    }
    protocol::InlineBlob blob{entry.digest, {}};
    if (Status s = ReadFileExact(file->disk_path, entry.size_bytes, &blob.data); !s.ok()) {
      return s.WithContext("cannot send workspace file '" + entry.path + "'");
    }
    inline_bytes += entry.size_bytes;
    inline_blobs.push_back(std::move(blob));
  }
  if (uploads.empty()) return Status::Ok();
  return net::UploadBlobs(client.connection(), uploads);
}

}  // namespace

int SubmitCommand(const SubmitArgs& args, std::ostream& out, std::ostream& err, bool tty) {
  // Why first: a submit that follows its run wakes for every batch of its
  // events; as batch (common/os/thread_policy.h), with the connection's
  // I/O thread started later, it never preempts the steps it watches.
  // Refused is harmless: the run goes the same.
  if (args.wait) (void)RunThisThreadAsBatch();
  ParseOptions options;
  std::map<std::string, std::string> params;
  for (const std::string& text : args.params) {
    Result<std::pair<std::string, std::string>> split = SplitParamOverride(text);
    if (!split.ok()) {
      err << "receta: " << split.error() << "\n";
      return 2;
    }
    options.param_overrides.push_back(*split);
    params[split->first] = split->second;
  }
  Result<std::string> text = ReadDagFile(args.file, options.limits);
  if (!text.ok()) {
    // Reported as the DAG's error, as LoadDagFile does (unless the file
    // became readable meanwhile).
    if (!PlanOf(LoadDagFile(args.file, options), args.file, err)) return 1;
    return Fail(err, text.status().WithContext(args.file));
  }
  options.default_name = DagNameFromPath(args.file);
  const std::string workspace_root = DagDirectory(args.file);
  const std::string plan_key = DagPlanKey(args.file, *text, options);
  const std::string plan_path = DagPlanPathFor(plan_key);
  std::optional<DagPlan> plan = LoadDagPlan(plan_path, plan_key);
  const bool planned_before = plan.has_value();
  auto parse = [&] { return PlanOf(LoadDagFileText(args.file, *text, options), args.file, err); };
  if (!plan && !(plan = parse())) return 1;
  err << plan->warnings;

  WorkspaceStatCache stat_cache(workspace_root, err);
  Result<WorkspaceInputs> inputs =
      HashWorkspaceInputs(workspace_root, plan->input_paths, stat_cache.get());
  if (!inputs.ok()) {
    // A kept plan does not know the workspace: a missing input gets the
    // DAG's own diagnostic (where it is named, what is near) from a parse.
    if (planned_before && !parse()) return 1;
    return Fail(err, inputs.status());
  }

  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.client.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  std::vector<protocol::InlineBlob> inline_blobs;
  if (Status s = SendMissing(**client, *inputs, inline_blobs, err); !s.ok()) return Fail(err, s);

  protocol::SubmitRun request;
  request.dag_yaml = *text;
  request.dag_file = args.file;
  request.params = params;
  request.no_cache = args.no_cache;
  for (const WorkspaceFile& file : inputs->files) request.workspace.push_back(file.entry);
  if (!inline_blobs.empty()) request.inline_blobs = std::move(inline_blobs);
  Result<protocol::SubmitReply> reply =
      (*client)->Call<protocol::SubmitReply>(request, kSlowTimeout);
  stat_cache.SaveIfChanged();  // whatever the answer: the digests hold
  if (!planned_before) {
    if (Status saved = SaveDagPlan(plan_path, plan_key, *plan); !saved.ok()) {
      err << "receta: warning: could not keep the DAG's plan: " << saved.message()
          << " (the next submit parses it again)\n";
    }
  }
  if (!reply.ok())
    return Fail(err, reply.status().WithContext("the scheduler refused " + args.file));

  if (args.client.json && !args.wait) {
    out << "{\"run_id\": " << JsonQuote(reply->run_id) << "}\n";
    return 0;
  }
  if (!args.client.json) out << reply->run_id << "\n" << std::flush;
  if (!args.wait) return 0;
  // Why stderr: stdout stays just the run id (RUN=$(receta submit --wait
  // f.yaml) works); with --json it is the final run document.
  return FollowRun(**client, reply->run_id, args.client.json ? out : err, err, tty, args.client.json);
}

}  // namespace receta::cli
