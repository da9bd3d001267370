/**
 * The error every failure of this package throws: a corrupt, truncated or
 * mismatched store, a bad argument, or an interrupted run.
 */
export class LogitStoreError extends Error {
  /** Creates the error; `path` is the store file the problem concerns, if any. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogitStoreError";
  }
}
