#pragma once
// How the C allocator should treat the buffers of blob transfers.

namespace receta::net {

/// Keeps freed MiB-sized buffers (blob chunks, ZeroMQ's frames for them) in
/// the heap for reuse instead of returning each to the kernel. Call once at
/// the start of main, before threads start.
///
/// Why: with glibc's defaults a MiB chunk may be mmap'd, or the heap top
/// trimmed after it is freed, so every chunk of a transfer faulted in and
/// zeroed fresh pages: ~1.2 s of the scheduler's 4.3-4.9 s CPU for a 1 GiB
/// artifact passing through it (upload and download). Memory is still given
/// back: the scheduler trims the heap when a run ends.
void KeepTransferBuffersInHeap();

}  // namespace receta::net
