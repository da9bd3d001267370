/** What the main thread and the BLAS helper thread share. */

/** The `cblas_sgemm` signature, for `Deno.dlopen`. */
export const SGEMM_SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "pointer",
      "i32",
      "pointer",
      "i32",
      "f32",
      "pointer",
      "i32",
    ],
    result: "void",
  },
} as const;

/** OpenBLAS's thread-count setter, for `Deno.dlopen` (optional). */
export const THREAD_COUNT_SYMBOL = {
  openblas_set_num_threads: {
    parameters: ["i32"],
    result: "void",
    optional: true,
  },
} as const;

/** Numbers per posted call: transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc. */
export const CALL_FIELDS = 13;

/** The helper's state, word 0 of the control block. */
export const HelperState = {
  /** Opening the library (shared memory starts zeroed). */
  Starting: 0,
  /** Waiting for calls. */
  Idle: 1,
  /** Calls posted; the helper is running them. */
  Posted: 2,
  /** The posted calls are done. */
  Done: 3,
  /** The helper could not open the library and has run nothing. */
  Failed: 4,
} as const;

/** What a post asks of the helper, word 3 of the control block. */
export const JobKind = {
  /** Sgemm calls. */
  Sgemm: 0,
  /** Part of a loop of `HEAP_LOOPS` (loops.ts). */
  Loop: 1,
} as const;

/** Int32 words of the control block. */
export const CONTROL_WORDS = 4;

/**
 * Numbers of a loop job in `calls`: base address, heap byte length, loop
 * id, start, end, then `LOOP_ARGS` arguments.
 */
export const LOOP_HEADER = 5;

/**
 * The first message to the helper. `control` holds `CONTROL_WORDS` Int32
 * words: state, call count, whether a call threw, and the job kind. For
 * sgemm jobs `calls` holds the heap's base address, then `CALL_FIELDS`
 * numbers per call (offsets in bytes); for loop jobs, `LOOP_HEADER` numbers
 * then the loop's arguments.
 */
export interface StartMessage {
  /** The BLAS library path to open. */
  library: string;
  /** The control block. */
  control: SharedArrayBuffer;
  /** The posted calls. */
  calls: SharedArrayBuffer;
}
