#include "net/allocator_tuning.h"

#include <malloc.h>

namespace receta::net {
namespace {

// Above the largest transfer frame (a 1 MiB chunk plus its header) with room
// to spare; larger blocks (rare, e.g. a big status document) still get mmap.
constexpr int kMmapThresholdBytes = 4 << 20;
// A window of chunks in flight in each direction, on each thread's arena.
constexpr int kTrimThresholdBytes = 32 << 20;

}  // namespace

void KeepTransferBuffersInHeap() {
  // Setting either also turns off glibc's dynamic adjustment of both.
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
}

}  // namespace receta::net
