// receta artifacts ls | get.
#include <sys/stat.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"
#include "net/blob_transfer.h"

namespace receta::cli {
namespace {

Result<JsonValue> ListArtifacts(SchedulerClient& client, const std::string& run_id,
                                const std::string& step, std::string* raw) {
  protocol::ListArtifacts request;
  request.run_id = run_id;
  if (!step.empty()) request.step = step;
  Result<protocol::ListArtifactsReply> reply = client.Call<protocol::ListArtifactsReply>(request);
  if (!reply.ok()) return reply.status();
  if (raw) *raw = reply->artifacts_json;
  return ParseDocument(reply->artifacts_json, "artifacts");
}

// `-o -`: the verified download goes through a temp file (DownloadBlob checks
// the digest before anything is shown), then to `out`, so a corrupt blob
// never reaches a pipe half-written.
int DownloadToStream(SchedulerClient& client, const std::string& digest, uint64_t size, std::ostream& out,
                     std::ostream& err) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) return Fail(err, "cannot find a temp directory: " + ec.message());
  std::string temp = (dir / ("receta-artifact-" + digest.substr(0, 16) + "-" + std::to_string(::getpid()))).string();
  Status downloaded = net::DownloadBlob(client.connection(), digest, size, temp);
  if (!downloaded.ok()) return Fail(err, downloaded);
  std::ifstream in(temp, std::ios::binary);
  out << in.rdbuf();
  out.flush();
  in.close();
  std::filesystem::remove(temp, ec);
  return out.good() ? 0 : Fail(err, "cannot write the artifact to stdout");
}

}  // namespace

int ArtifactsLsCommand(const ClientArgs& args, const std::string& run_id, const std::string& step,
                       std::ostream& out, std::ostream& err) {
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  std::string raw;
  Result<JsonValue> artifacts = ListArtifacts(**client, run_id, step, &raw);
  if (!artifacts.ok()) return Fail(err, artifacts.status());
  if (args.json) {
    out << raw << "\n";
  } else {
    out << RenderArtifacts(*artifacts);
  }
  return 0;
}

int ArtifactsGetCommand(const ArtifactGetArgs& args, std::ostream& out, std::ostream& err) {
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.client.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  Result<JsonValue> artifacts = ListArtifacts(**client, args.run_id, args.step, nullptr);
  if (!artifacts.ok()) return Fail(err, artifacts.status());
  const JsonValue* found = nullptr;
  std::string available;
  size_t listed = 0;
  for (const JsonValue& artifact : artifacts->Items()) {
    if (artifact["step"].AsString() != args.step) continue;
    if (artifact["path"].AsString() == args.path) found = &artifact;
    if (++listed <= 20) available += "\n  " + artifact["path"].AsString();
  }
  if (found == nullptr) {
    std::string message =
        "step '" + args.step + "' of run " + args.run_id + " has no artifact '" + args.path + "'";
    if (listed == 0) return Fail(err, message + "; it has no artifacts at all");
    if (listed > 20) available += "\n  ... and " + std::to_string(listed - 20) + " more";
    return Fail(err, message + "; its artifacts are:" + available);
  }
  std::string output = args.output;
  if (output.empty()) output = std::filesystem::path(args.path).filename().string();
  std::string digest = (*found)["digest"].AsString();
  uint64_t size = static_cast<uint64_t>((*found)["size_bytes"].AsInt());
  if (output == "-") return DownloadToStream(**client, digest, size, out, err);
  Status downloaded = net::DownloadBlob((*client)->connection(), digest, size, output);
  if (!downloaded.ok()) return Fail(err, downloaded);
  if ((*found)["executable"].AsBool()) ::chmod(output.c_str(), 0755);
  err << "wrote " << output << " (" << FormatBytes(size) << ", sha256 " << digest << ")\n";
  return 0;
}

}  // namespace receta::cli
