/**
 * What was wrong with a model, for a caller that treats the cases apart:
 *
 * - `not-found`: a model folder, or a file in it, is not there;
 * - `corrupt`: a file is there but unreadable (invalid JSON, a wrong size,
 *   a fingerprint that does not match);
 * - `unsupported`: a well-formed file of another format or version, or an
 *   architecture the registry does not know;
 * - `mismatch`: the parts of a saved model disagree (`model.json` against
 *   `meta.json`);
 * - `unknown-model`: a model name that is not registered;
 * - `bad-options`: options a model cannot be built with.
 */
export type ModelErrorCode =
  | "not-found"
  | "corrupt"
  | "unsupported"
  | "mismatch"
  | "unknown-model"
  | "bad-options";

/** Options of {@linkcode ModelError}. */
export interface ModelErrorOptions extends ErrorOptions {
  /** What was wrong (default `"corrupt"`). */
  code?: ModelErrorCode;
  /** The model folder or file at fault, when there is one. */
  path?: string;
}

/**
 * A saved model that cannot be loaded (a missing, corrupt or unsupported
 * `model.json`, `weights.bin` or `meta.json`), or a model that cannot be
 * built (an unknown name, bad options). The message names the file or the
 * option and says what was expected and what was found.
 *
 * @example
 * ```ts
 * import { loadModel, ModelError } from "@vitkd/models";
 *
 * try {
 *   await loadModel("/no/such/model");
 * } catch (error) {
 *   if (!(error instanceof ModelError) || error.code !== "not-found") throw error;
 * }
 * ```
 */
export class ModelError extends Error {
  /** What was wrong. */
  readonly code: ModelErrorCode;
  /** The model folder or file at fault, when there is one. */
  readonly path?: string;

  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the file or option
   * @param options the code, the path at fault and the underlying cause
   */
  constructor(message: string, options: ModelErrorOptions = {}) {
    super(message, options);
    this.name = "ModelError";
    this.code = options.code ?? "corrupt";
    this.path = options.path;
  }
}
