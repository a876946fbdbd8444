#pragma once
// AlertDocument: the JSON document that tells a person about an Alert. It is
// the body POSTed to webhook sinks and the stdin of command sinks, so one
// format serves Slack (which reads only "text") and scripts (which read the
// fields). Pure: no I/O, no clock.
//
// {
//   "text": ":x: receta: step train of run r-12 (dag iris) failed: ... — see `...`",
//   "event": "failure", "run": "r-12", "dag": "iris", "step": "train",
//   "attempt": "a-...", "attempt_number": 2, "worker": "gpu-1",
//   "state": "failed", "error": "exited with code 1",
//   "time": "2024-05-01T12:34:56.789Z",
//   "log_tail": ["last", "lines"],
//   "see_more": "receta logs r-12 train --attempt 2"
// }
//
// Every string is valid UTF-8 (invalid bytes become U+FFFD) and escaped per
// RFC 8259, whatever a step printed.

#include <cstdint>
#include <string>

#include "scheduler/alert.h"

namespace receta::scheduler {

/// The JSON document above, indented, keys in that order.
std::string AlertDocument(const Alert& alert);

/// The document's "text": a one-line summary with the command that shows
/// more, plus a second line quoting the last log line when there is one.
/// Formatted for Slack's mrkdwn (&, < and > escaped; the command in
/// backticks), and still plain enough for a mail or a terminal.
std::string AlertText(const Alert& alert);

/// The command that shows more: `receta logs RUN STEP --attempt N` for an
/// alert about a step (without --attempt when no attempt is known),
/// `receta status RUN` for an alert about a whole run.
std::string AlertSeeMore(const Alert& alert);

/// `time_ms` (milliseconds since the Unix epoch) as ISO-8601 UTC with
/// milliseconds: "2024-05-01T12:34:56.789Z".
std::string IsoTimeUtcMs(uint64_t time_ms);

}  // namespace receta::scheduler
