/** HTTP status codes the server answers errors with. */
export type ErrorStatus = 400 | 404 | 413 | 415 | 500 | 503;

/**
 * A request the server refuses, with the status to answer and a message that
 * names what was wrong. Handlers throw it; the app turns it into
 * `{"error": message}`.
 */
export class HttpError extends Error {
  /** The HTTP status to answer with. */
  readonly status: ErrorStatus;

  /** @param status HTTP status; @param message what was wrong */
  constructor(status: ErrorStatus, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}
