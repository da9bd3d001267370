import { activeHelper } from "../native/register.ts";
import { HEAP_LOOPS, LOOP_ARGS } from "../native/loops.ts";
import { heapAddress, heapBuffer } from "../native/heap.ts";
import type { FusedBackend } from "./heap_kernel.ts";

/**
 * Elements below which a heap loop runs wholly on the calling thread: a
 * post to the helper and its wake-up cost about 10-30 µs, the time of
 * ~10^4 GELU elements.
 */
export const MIN_SHARED_ELEMENTS = 65536;

/**
 * Runs loop `id` of `HEAP_LOOPS` over `[0, size)` on the wasm heap, half of
 * it on the native path's helper thread when one is active and the loop
 * spans at least {@linkcode MIN_SHARED_ELEMENTS} elements (`unit` elements
 * per index: the row width for row loops). Call it after the kernel's last
 * allocation; the two halves must write disjoint memory.
 */
export function runHeapLoop(
  backend: FusedBackend,
  id: number,
  args: number[],
  size: number,
  unit = 1,
): void {
  const loop = HEAP_LOOPS[id];
  const buffer = heapBuffer(backend);
  const heap = new Float32Array(buffer);
  // A post carries at most LOOP_ARGS arguments; longer lists run here.
  const helper =
    size * unit >= MIN_SHARED_ELEMENTS && size >= 2 && args.length <= LOOP_ARGS
      ? activeHelper()
      : undefined;
  if (!helper) {
    loop(heap, args, 0, size);
    return;
  }
  helper.shareLoop(
    heapAddress(buffer),
    buffer.byteLength,
    id,
    args,
    size,
    (start, end) => loop(heap, args, start, end),
  );
}
