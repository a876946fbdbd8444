// receta workers.
#include <ostream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"

namespace receta::cli {

int WorkersCommand(const ClientArgs& args, std::ostream& out, std::ostream& err) {
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  Result<protocol::ListWorkersReply> reply =
      (*client)->Call<protocol::ListWorkersReply>(protocol::ListWorkers{true});
  if (!reply.ok()) return Fail(err, reply.status());
  if (args.json) {
    out << reply->workers_json << "\n";
    return 0;
  }
  Result<JsonValue> workers = ParseDocument(reply->workers_json, "workers");
  if (!workers.ok()) return Fail(err, workers.status());
  out << RenderWorkers(*workers, NowMs());
  return 0;
}

}  // namespace receta::cli
