/**
 * The helper thread of {@linkcode BlasHelper}: opens the same BLAS library
 * and runs the sgemm calls the main thread posts into shared memory, on raw
 * addresses of the main thread's wasm heap, and parts of the heap loops of
 * loops.ts on a view of that heap.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import {
  CALL_FIELDS,
  HelperState,
  JobKind,
  LOOP_HEADER,
  SGEMM_SYMBOLS,
  type StartMessage,
  THREAD_COUNT_SYMBOL,
} from "./blas_helper_protocol.ts";
import { HEAP_LOOPS } from "./loops.ts";

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const pointer = (address: number) => Deno.UnsafePointer.create(BigInt(address));

// The heap grows between kernels, never during one: a view is kept per
// (address, length) and replaced when either changes.
let viewBase = -1;
let viewLength = -1;
let view = new Float32Array(0);

function heapView(base: number, byteLength: number): Float32Array {
  if (base !== viewBase || byteLength !== viewLength) {
    view = new Float32Array(
      Deno.UnsafePointerView.getArrayBuffer(pointer(base)!, byteLength),
    );
    viewBase = base;
    viewLength = byteLength;
  }
  return view;
}

// A function of its own, called per job: run from inside serve's endless
// loop (which V8 optimises only on the stack) the heap loops took 4.2 ms for
// half a [4288, 256] GELU, against 2.6 ms on the main thread.
function runLoop(calls: Float64Array, argCount: number): void {
  const loop = HEAP_LOOPS[calls[2]];
  if (!loop) throw new Error(`no heap loop ${calls[2]}`);
  loop(
    heapView(calls[0], calls[1]),
    Array.from(calls.subarray(LOOP_HEADER, LOOP_HEADER + argCount)),
    calls[3],
    calls[4],
  );
}

function serve(message: StartMessage): void {
  const control = new Int32Array(message.control);
  const calls = new Float64Array(message.calls);
  let lib: Deno.DynamicLibrary<typeof SGEMM_SYMBOLS>;
  try {
    lib = Deno.dlopen(message.library, SGEMM_SYMBOLS);
  } catch {
    // Nothing has run: the main thread takes every call itself from now on.
    Atomics.store(control, 0, HelperState.Failed);
    Atomics.notify(control, 0);
    return;
  }
  const sgemm = lib.symbols.cblas_sgemm;
  // OpenMP's thread count is per thread: without this, the helper's sgemms
  // would each start a team of one thread per core, and the two threads'
  // calls then ran slower together than the main thread's alone.
  try {
    Deno.dlopen(message.library, THREAD_COUNT_SYMBOL).symbols
      .openblas_set_num_threads?.(1);
  } catch {
    // Not OpenBLAS (Accelerate): it has no such control.
  }
  Atomics.store(control, 0, HelperState.Idle);
  Atomics.notify(control, 0);
  while (true) {
    // Sleeps in whatever state it finds (Idle, or Done until the main
    // thread has read it) rather than spinning.
    let state: number;
    while ((state = Atomics.load(control, 0)) !== HelperState.Posted) {
      Atomics.wait(control, 0, state);
    }
    const count = control[1];
    let failed = 0;
    try {
      if (control[3] === JobKind.Loop) runLoop(calls, control[1]);
      else {
        for (let i = 0; i < count; i++) {
          const f = 1 + i * CALL_FIELDS;
          sgemm(
            CBLAS_ROW_MAJOR,
            calls[f] ? CBLAS_TRANS : CBLAS_NO_TRANS,
            calls[f + 1] ? CBLAS_TRANS : CBLAS_NO_TRANS,
            calls[f + 2],
            calls[f + 3],
            calls[f + 4],
            calls[f + 5],
            pointer(calls[0] + calls[f + 6]),
            calls[f + 7],
            pointer(calls[0] + calls[f + 8]),
            calls[f + 9],
            calls[f + 10],
            pointer(calls[0] + calls[f + 11]),
            calls[f + 12],
          );
        }
      }
    } catch {
      // Reported, not swallowed: the main thread throws for a failed job.
      failed = 1;
    }
    control[2] = failed;
    Atomics.store(control, 0, HelperState.Done);
    Atomics.notify(control, 0);
  }
}

parentPort?.once("message", serve);
