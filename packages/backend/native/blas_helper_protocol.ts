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

/**
 * The first message to the helper. `control` holds 3 Int32 words: state,
 * call count, and whether a call threw. `calls` holds the heap's base
 * address, then `CALL_FIELDS` numbers per call (offsets in bytes).
 */
export interface StartMessage {
  /** The BLAS library path to open. */
  library: string;
  /** The control block. */
  control: SharedArrayBuffer;
  /** The posted calls. */
  calls: SharedArrayBuffer;
}
