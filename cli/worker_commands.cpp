// receta workers.
#include <ostream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"

namespace receta::cli {

int WorkersCommand(const ClientArgs& args, std::ostream& out, std::ostream& err) {
  Result<protocol::ListWorkersReply> reply =
      CallOnce<protocol::ListWorkersReply>(args.scheduler, protocol::ListWorkers{true});
  if (!reply.ok()) return Fail(err, reply.status());
  return PrintDocument(
      reply->workers_json, "workers", args.json,
      [](const JsonValue& workers) { return RenderWorkers(workers, NowMs()); }, out, err);
}

}  // namespace receta::cli
