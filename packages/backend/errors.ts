/**
 * What was wrong, for a caller that treats the cases apart:
 *
 * - `unknown-backend`: a backend name that is not one of
 *   `BACKEND_CHOICES`;
 * - `unavailable`: a backend that was asked for by name but cannot start
 *   here (no WebGPU adapter, a backend tfjs failed to start);
 * - `native-unavailable`: the native BLAS path was required
 *   (`native: "on"`) but no library could be opened, or `--allow-ffi` is
 *   missing;
 * - `bad-option`: another option with a value it cannot take.
 */
export type BackendErrorCode =
  | "unknown-backend"
  | "unavailable"
  | "native-unavailable"
  | "bad-option";

/** Options of {@linkcode BackendError}. */
export interface BackendErrorOptions extends ErrorOptions {
  /** What was wrong (default `"unavailable"`). */
  code?: BackendErrorCode;
}

/**
 * A backend that cannot be readied as asked: an unknown name, a backend this
 * machine cannot run, or a required native BLAS library that is missing.
 * The message names the backend or option and what to do instead.
 *
 * @example
 * ```ts
 * import { BackendError, type BackendChoice, initBackend } from "@vitkd/backend";
 *
 * try {
 *   await initBackend({ backend: "tpu" as BackendChoice });
 * } catch (error) {
 *   if (!(error instanceof BackendError) || error.code !== "unknown-backend") {
 *     throw error;
 *   }
 * }
 * ```
 */
export class BackendError extends Error {
  /** What was wrong. */
  readonly code: BackendErrorCode;

  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the backend or option
   * @param options the code and the underlying cause
   */
  constructor(message: string, options: BackendErrorOptions = {}) {
    super(message, options);
    this.name = "BackendError";
    this.code = options.code ?? "unavailable";
  }
}
