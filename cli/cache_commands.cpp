// receta cache ls | rm | gc.
#include <ostream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"

namespace receta::cli {
namespace {

constexpr size_t kFullKeyChars = 64;

// A key prefix (as `cache ls` shows them) resolved to the one full key it
// starts; an error when it matches none or several.
Result<std::string> ResolveKey(SchedulerClient& client, const std::string& prefix) {
  Result<protocol::CacheListReply> reply =
      client.Call<protocol::CacheListReply>(protocol::CacheList{});
  if (!reply.ok()) return reply.status();
  Result<JsonValue> entries = ParseDocument(reply->entries_json, "cache entries");
  if (!entries.ok()) return entries.status();
  std::vector<std::string> matches;
  for (const JsonValue& entry : entries->Items()) {
    std::string key = entry["key"].AsString();
    if (key.compare(0, prefix.size(), prefix) == 0) matches.push_back(key);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return Status::Error("no cache entry has a key starting with '" + prefix +
                         "'; see `receta cache ls`");
  }
  return Status::Error("'" + prefix + "' starts " + std::to_string(matches.size()) +
                       " cache keys; give more characters");
}

}  // namespace

int CacheLsCommand(const ClientArgs& args, std::ostream& out, std::ostream& err) {
  Result<protocol::CacheListReply> reply =
      CallOnce<protocol::CacheListReply>(args.scheduler, protocol::CacheList{});
  if (!reply.ok()) return Fail(err, reply.status());
  return PrintDocument(
      reply->entries_json, "cache entries", args.json,
      [](const JsonValue& entries) { return RenderCacheEntries(entries, NowMs()); }, out, err);
}

int CacheRmCommand(const CacheRmArgs& args, std::ostream& out, std::ostream& err) {
  bool by_key = !args.key.empty();
  bool by_step = !args.dag.empty() || !args.step.empty();
  if (by_key == by_step || (by_step && (args.dag.empty() || args.step.empty()))) {
    err << "receta: cache rm needs either a KEY or both --dag DAG and --step STEP\n"
        << "  receta cache rm 3f2a9c0b1d4e\n  receta cache rm --dag ml-pipeline --step train\n";
    return 2;
  }
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.client.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  protocol::CacheRemove request;
  if (by_key) {
    std::string key = args.key;
    if (key.size() < kFullKeyChars) {
      Result<std::string> full = ResolveKey(**client, key);
      if (!full.ok()) return Fail(err, full.status());
      key = *full;
    }
    request.key = key;
  } else {
    request.dag_name = args.dag;
    request.step = args.step;
  }
  Result<protocol::CacheRemoveReply> reply = (*client)->Call<protocol::CacheRemoveReply>(request);
  if (!reply.ok()) return Fail(err, reply.status());
  out << "removed " << reply->removed << " cache entr" << (reply->removed == 1 ? "y" : "ies")
      << "\n";
  return 0;
}

int CacheGcCommand(const ClientArgs& args, uint32_t keep_runs, std::ostream& out,
                   std::ostream& err) {
  Result<protocol::CacheGcReply> reply =
      CallOnce<protocol::CacheGcReply>(args.scheduler, protocol::CacheGc{keep_runs}, kSlowTimeout);
  if (!reply.ok()) return Fail(err, reply.status());
  if (args.json) {
    out << "{\"blobs_removed\": " << reply->blobs_removed
        << ", \"bytes_freed\": " << reply->bytes_freed << ", \"blobs_kept\": " << reply->blobs_kept
        << "}\n";
    return 0;
  }
  out << "removed " << reply->blobs_removed << " blob" << (reply->blobs_removed == 1 ? "" : "s")
      << " (" << FormatBytes(reply->bytes_freed) << " freed); kept " << reply->blobs_kept << "\n";
  return 0;
}

}  // namespace receta::cli
