/**
 * The helper thread of {@linkcode BlasHelper}: opens the same BLAS library
 * and runs the sgemm calls the main thread posts into shared memory, on raw
 * addresses of the main thread's wasm heap.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import {
  CALL_FIELDS,
  HelperState,
  SGEMM_SYMBOLS,
  type StartMessage,
  THREAD_COUNT_SYMBOL,
} from "./blas_helper_protocol.ts";

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

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
  const pointer = (address: number) =>
    Deno.UnsafePointer.create(BigInt(address));
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
    } catch {
      failed = 1;
    }
    control[2] = failed;
    Atomics.store(control, 0, HelperState.Done);
    Atomics.notify(control, 0);
  }
}

parentPort?.once("message", serve);
