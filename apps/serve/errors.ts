import { HTTPException } from "hono/http-exception";

/** HTTP status codes the server answers errors with. */
export type ErrorStatus = 400 | 404 | 408 | 413 | 415 | 500 | 503;

/**
 * A request the server refuses: Hono's `HTTPException` with the status to
 * answer and a message that names what was wrong. Handlers throw it; the
 * app's error handler turns every `HTTPException` into `{"error": message}`
 * (with `Retry-After` on 503).
 */
export class HttpError extends HTTPException {
  /** The HTTP status to answer with. */
  declare readonly status: ErrorStatus;

  /** @param status HTTP status; @param message what was wrong */
  constructor(status: ErrorStatus, message: string) {
    super(status, { message });
    this.name = "HttpError";
  }
}
