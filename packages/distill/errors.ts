/**
 * What was wrong, for a caller that treats the cases apart:
 *
 * - `not-found`: no checkpoint where one was asked for;
 * - `corrupt`: a checkpoint (or encoded outcomes) that cannot be read: a bad
 *   magic, a truncated header, data that fail their hash;
 * - `unsupported`: a well-formed checkpoint of another format or version;
 * - `mismatch`: a checkpoint or a teacher source that does not fit what is
 *   in use (another seed, other weights, other data, other teachers);
 * - `bad-options`: training options that cannot work (a loss without the
 *   teachers it needs, a learning rate <= 0, ...);
 * - `diverged`: the loss became NaN or infinite.
 */
export type DistillErrorCode =
  | "not-found"
  | "corrupt"
  | "unsupported"
  | "mismatch"
  | "bad-options"
  | "diverged";

/** Options of {@linkcode DistillError}. */
export interface DistillErrorOptions extends ErrorOptions {
  /** What was wrong (default `"bad-options"`). */
  code?: DistillErrorCode;
  /** The checkpoint file at fault, when there is one. */
  path?: string;
}

/**
 * A distillation that cannot go on: a missing, corrupt or mismatched
 * checkpoint, training options that cannot work, or a loss that diverged.
 * The message names the file or the option and says what was expected and
 * what was found.
 *
 * @example
 * ```ts
 * import { DistillError, loadCheckpoint } from "@vitkd/distill";
 *
 * try {
 *   await loadCheckpoint("/no/such/run/checkpoints");
 * } catch (error) {
 *   if (!(error instanceof DistillError) || error.code !== "not-found") {
 *     throw error;
 *   }
 * }
 * ```
 */
export class DistillError extends Error {
  /** What was wrong. */
  readonly code: DistillErrorCode;
  /** The checkpoint file at fault, when there is one. */
  readonly path?: string;

  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the file or option
   * @param options the code, the path at fault and the underlying cause
   */
  constructor(message: string, options: DistillErrorOptions = {}) {
    super(message, options);
    this.name = "DistillError";
    this.code = options.code ?? "bad-options";
    this.path = options.path;
  }
}
