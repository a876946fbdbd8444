#pragma once
// Durations ("30s", "1h30m") and sizes ("512M", "1.5Gi", "2GB") as written in
// DAG files: retry_backoff, timeout, resources.memory and the like.
//
// Durations: one or more <number><unit> parts with no spaces, units from
// largest to smallest, each at most once. Units: ms, s, m (minutes), h, d.
// A number may have a fraction ("1.5h", ".5s") as long as the whole is a
// whole number of milliseconds. "0" alone is accepted; any other number needs
// a unit. Units are case-sensitive ("M" is not minutes).
//
// Sizes: a number and an optional unit, no space between.
//   none, B                          bytes
//   K k Ki KiB, M m Mi MiB,
//   G g Gi GiB, T t Ti TiB,
//   P p Pi PiB                       powers of 1024 (1G = 1Gi = 2^30 bytes),
//                                    as Slurm, Docker and the JVM read them
//   KB kB, MB, GB, TB, PB            powers of 1000 (1GB = 10^9 bytes), as
//                                    SI and disk vendors read them
// A fraction is allowed with a unit ("1.5G") and is rounded up to a whole
// byte ("0.1K" = 103 bytes, as Kubernetes rounds quantities up); a number of
// bytes must be whole.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/lang/text_error.h"

namespace receta {

/// Parses a duration into milliseconds (see the grammar above). Errors point
/// at the offending part: a bare number, an unknown unit, a negative sign,
/// units out of order, sub-millisecond precision, or a value past INT64_MAX.
TextResult<int64_t> ParseDurationMs(std::string_view text);

/// The canonical duration text for `ms`: largest units first, zero parts
/// left out ("1h30m", "500ms", "1d2s"); 0 is "0s". ParseDurationMs reads it
/// back to the same value. A negative value gets a leading '-', which
/// ParseDurationMs rejects.
std::string FormatDurationMs(int64_t ms);

/// Parses a size into bytes (see the table above). Errors point at the
/// offending part: a negative sign, an unknown unit, a fraction of a byte,
/// or a value past INT64_MAX.
TextResult<int64_t> ParseSizeBytes(std::string_view text);

/// The shortest exact text for `bytes` that ParseSizeBytes reads back to the
/// same value, preferring a whole number: "512B", "1Ki", "1.5Gi", "1GB",
/// "1536B"; 0 is "0B". Binary units are written with 'i' (Ki, Mi, Gi, Ti, Pi)
/// so that no reader mistakes them for powers of 1000. A negative value gets
/// a leading '-', which ParseSizeBytes rejects.
std::string FormatSizeBytes(int64_t bytes);

}  // namespace receta
