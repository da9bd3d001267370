import { Worker } from "node:worker_threads";
import {
  CALL_FIELDS,
  CONTROL_WORDS,
  HelperState,
  JobKind,
  LOOP_HEADER,
  type StartMessage,
} from "./blas_helper_protocol.ts";
import { LOOP_ARGS } from "./loops.ts";
import type { SgemmCall } from "./sgemm_call.ts";

/** Calls one post can carry; more run on the calling thread. */
const CAPACITY = 4096;

// A helper that has not answered in this long is taken for dead.
const ANSWER_TIMEOUT_MS = 120_000;
// How long start() waits for the helper to open the library.
const START_TIMEOUT_MS = 10_000;

/**
 * A second thread that runs sgemm calls on the main thread's wasm heap, so
 * that a kernel can use two cores: wasm threads are off under Deno, and
 * OpenBLAS's own threads wake too slowly (OpenMP, passive) for the many
 * small sgemms of a convolution. The main thread posts the helper's share
 * into shared memory, runs its own share, then waits; the helper reads the
 * heap through raw addresses, so nothing is copied.
 *
 * The worker is unref'd: an idle helper does not keep the process alive.
 */
export class BlasHelper {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #calls: Float64Array;
  #alive = true;

  private constructor(
    worker: Worker,
    control: Int32Array,
    calls: Float64Array,
  ) {
    this.#worker = worker;
    this.#control = control;
    this.#calls = calls;
  }

  /**
   * Starts a helper that opens `library`, or returns why it cannot (no
   * worker permission, no shared memory).
   */
  static start(library: string): BlasHelper | string {
    let worker: Worker | undefined;
    try {
      const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
      const calls = new Float64Array(
        new SharedArrayBuffer((1 + CAPACITY * CALL_FIELDS) * 8),
      );
      worker = new Worker(new URL("./blas_helper_worker.ts", import.meta.url));
      worker.unref();
      const message: StartMessage = {
        library,
        control: control.buffer as SharedArrayBuffer,
        calls: calls.buffer as SharedArrayBuffer,
      };
      worker.postMessage(message);
      // The worker loads and opens the library on its own thread (tens of
      // ms), so its state is known before the first kernel needs it.
      const started = performance.now();
      while (Atomics.load(control, 0) === HelperState.Starting) {
        const left = START_TIMEOUT_MS - (performance.now() - started);
        if (left <= 0) break;
        Atomics.wait(control, 0, HelperState.Starting, left);
      }
      const state = Atomics.load(control, 0);
      if (state !== HelperState.Idle) {
        void worker.terminate();
        return state === HelperState.Failed
          ? `no helper thread: it could not open ${library}`
          : `no helper thread: it did not start in ${
            START_TIMEOUT_MS / 1000
          } s`;
      }
      const helper = new BlasHelper(worker, control, calls);
      worker.on("error", () => helper.stop());
      return helper;
    } catch (error) {
      if (worker) void worker.terminate();
      return `no helper thread: ${(error as Error).message ?? error}`;
    }
  }

  /** Whether the helper still takes work. */
  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Runs `theirs` on the helper while `runOwn` runs on this thread, and
   * returns when both are done. `base` is the heap's address; the calls'
   * offsets are relative to it. When the helper has failed to start, runs
   * `theirs` here with `runCall`.
   */
  share(
    base: number,
    theirs: readonly SgemmCall[],
    runOwn: () => void,
    runCall: (call: SgemmCall) => void,
  ): void {
    const posted = this.#alive && theirs.length > 0
      ? this.#post(base, theirs)
      : 0;
    let ranPosted = true;
    try {
      runOwn();
    } finally {
      // Even when runOwn throws, the helper must be done with the heap
      // before the caller frees anything.
      if (posted > 0) ranPosted = this.#await();
    }
    if (!ranPosted) {
      for (const call of theirs.slice(0, posted)) runCall(call);
    }
    for (const call of theirs.slice(posted)) runCall(call);
  }

  /**
   * Runs loop `id` of `HEAP_LOOPS` (loops.ts) over `[0, size)`: the second
   * half on the helper, which views the heap at `base` (its address) for
   * `byteLength` bytes, while `runOwn(0, half)` runs the first half here;
   * returns when both are done. Both halves must write disjoint memory.
   * When the helper is gone, or failed to start, runs it all with `runOwn`.
   */
  shareLoop(
    base: number,
    byteLength: number,
    id: number,
    args: ArrayLike<number>,
    size: number,
    runOwn: (start: number, end: number) => void,
  ): void {
    if (args.length > LOOP_ARGS) {
      throw new Error(
        `BlasHelper.shareLoop: ${args.length} arguments, at most ${LOOP_ARGS}`,
      );
    }
    const half = Math.ceil(size / 2);
    const posted = this.#alive && size - half > 0 &&
      this.#postLoop(base, byteLength, id, args, half, size);
    let ranPosted = true;
    try {
      runOwn(0, posted ? half : size);
    } finally {
      // Even when runOwn throws, the helper must be done with the heap
      // before the caller frees anything.
      if (posted) ranPosted = this.#await();
    }
    if (!ranPosted) runOwn(half, size);
  }

  /** Stops the helper thread. */
  stop(): void {
    if (!this.#alive) return;
    this.#alive = false;
    void this.#worker.terminate();
  }

  #post(base: number, theirs: readonly SgemmCall[]): number {
    const count = Math.min(theirs.length, CAPACITY);
    const calls = this.#calls;
    calls[0] = base;
    for (let i = 0; i < count; i++) {
      const call = theirs[i];
      const f = 1 + i * CALL_FIELDS;
      calls[f] = call.transA ? 1 : 0;
      calls[f + 1] = call.transB ? 1 : 0;
      calls[f + 2] = call.m;
      calls[f + 3] = call.n;
      calls[f + 4] = call.k;
      calls[f + 5] = call.alpha;
      calls[f + 6] = call.a;
      calls[f + 7] = call.lda;
      calls[f + 8] = call.b;
      calls[f + 9] = call.ldb;
      calls[f + 10] = call.beta;
      calls[f + 11] = call.c;
      calls[f + 12] = call.ldc;
    }
    this.#control[1] = count;
    this.#control[3] = JobKind.Sgemm;
    return this.#publish() ? count : 0;
  }

  #postLoop(
    base: number,
    byteLength: number,
    id: number,
    args: ArrayLike<number>,
    start: number,
    end: number,
  ): boolean {
    const calls = this.#calls;
    calls[0] = base;
    calls[1] = byteLength;
    calls[2] = id;
    calls[3] = start;
    calls[4] = end;
    for (let i = 0; i < args.length; i++) calls[LOOP_HEADER + i] = args[i];
    this.#control[1] = args.length;
    this.#control[3] = JobKind.Loop;
    return this.#publish();
  }

  // Hands the filled job to the helper; false (and the helper stopped) when
  // it is not idle.
  #publish(): boolean {
    const before = Atomics.compareExchange(
      this.#control,
      0,
      HelperState.Idle,
      HelperState.Posted,
    );
    if (before !== HelperState.Idle) {
      this.stop();
      return false;
    }
    Atomics.notify(this.#control, 0);
    return true;
  }

  // True when the helper ran the posted calls; false when it failed to start.
  #await(): boolean {
    const control = this.#control;
    const started = performance.now();
    let state: number;
    while ((state = Atomics.load(control, 0)) === HelperState.Posted) {
      Atomics.wait(control, 0, HelperState.Posted, 1000);
      if (performance.now() - started > ANSWER_TIMEOUT_MS) {
        this.stop();
        throw new Error(
          `native BLAS helper thread: no answer in ${
            ANSWER_TIMEOUT_MS / 1000
          } s; set VITKD_BLAS_HELPER=0 to run without it`,
        );
      }
    }
    if (state === HelperState.Failed) {
      this.stop();
      return false;
    }
    Atomics.store(control, 0, HelperState.Idle);
    if (control[2] !== 0) {
      throw new Error(
        this.#control[3] === JobKind.Loop
          ? "native BLAS helper thread: a loop failed"
          : "native BLAS helper thread: an sgemm call failed",
      );
    }
    return true;
  }
}
