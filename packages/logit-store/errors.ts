/**
 * The error every failure of this package throws: a corrupt, truncated or
 * mismatched store, a bad argument, or an interrupted run. The message names
 * the store file when the problem concerns one.
 */
export class LogitStoreError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong, starting with the store file when there is one
   * @param options the underlying cause, if any
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogitStoreError";
  }
}
