#pragma once
// Where clients (the CLI, workers) find the scheduler, and the check that an
// endpoint string is one ZeroMQ can connect to.

#include <string>

#include "common/status.h"

namespace receta::net {

/// The environment variable naming the scheduler endpoint.
inline constexpr const char* kSchedulerEnvVar = "RECETA_SCHEDULER";
/// The file a scheduler writes in its data dir with the endpoint it bound;
/// clients read it from ./.receta/ (the default data dir).
inline constexpr const char* kEndpointFileName = "scheduler.endpoint";
inline constexpr const char* kLocalEndpointFile = ".receta/scheduler.endpoint";

/// The scheduler endpoint to use: `flag_value` when not empty, else
/// $RECETA_SCHEDULER when set and not empty, else the first line of
/// ./.receta/scheduler.endpoint when that file exists and is not empty, else
/// tcp://127.0.0.1:7700. Surrounding whitespace is trimmed. Not checked:
/// Connection::Connect (or CheckEndpoint) says what is wrong with a bad one.
std::string ResolveSchedulerEndpoint(const std::string& flag_value);

/// Ok when `endpoint` is tcp://HOST:PORT (PORT 1..65535), ipc://PATH or
/// inproc://NAME; otherwise an error quoting it and showing the right form.
Status CheckEndpoint(const std::string& endpoint);

}  // namespace receta::net
