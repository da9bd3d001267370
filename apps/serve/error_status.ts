// The one mapping from the errors a request can meet to the HTTP status the
// server answers with. The app's error handler and `toHttpError` read it; no
// handler picks a status for a typed error itself.
import { BackendError } from "@vitkd/backend";
import { DataError } from "@vitkd/data";
import { HTTPException } from "hono/http-exception";
import { BatcherClosedError, QueueFullError } from "./batcher.ts";
import { DecoderBusyError } from "./decode_pool.ts";
import { type ErrorStatus, HttpError } from "./errors.ts";

/** One row of {@linkcode HTTP_STATUS_TABLE}. */
export interface HttpStatusRow {
  /** The error class; subclasses match too. */
  error: abstract new (...args: never[]) => Error;
  /** The status to answer with. */
  status: ErrorStatus;
  /** Why, for the docs and for readers of the table. */
  why: string;
}

/**
 * Typed errors and their HTTP statuses, first match wins. An
 * `HTTPException` (an {@linkcode HttpError} a handler threw, or one of
 * Hono's) answers with its own status; any other error is a 500, logged.
 * Every 503 carries `Retry-After`.
 */
export const HTTP_STATUS_TABLE: readonly HttpStatusRow[] = [
  {
    error: DataError,
    status: 400,
    why: "an upload that is not a readable PNG or JPEG (corrupt, truncated)",
  },
  {
    error: QueueFullError,
    status: 503,
    why: "too many images waiting for the model (--max-queue)",
  },
  {
    error: DecoderBusyError,
    status: 503,
    why: "too many uploads waiting to be decoded (--max-decode-queue)",
  },
  {
    error: BatcherClosedError,
    status: 503,
    why: "the server is shutting down",
  },
  {
    error: BackendError,
    status: 503,
    why: "the backend cannot run the model now",
  },
];

/** What the server answers for an error. */
export interface HttpAnswer {
  /** The HTTP status. */
  status: ErrorStatus;
  /** The `error` field of the JSON body. */
  message: string;
  /** Whether the error was expected (typed); an unexpected one is logged. */
  expected: boolean;
}

/**
 * The answer for `error`: an `HTTPException`'s own status, else its row of
 * {@linkcode HTTP_STATUS_TABLE}, else 500 with `internal error: <message>`.
 */
export function httpAnswerOf(error: unknown): HttpAnswer {
  if (error instanceof HTTPException) {
    return {
      status: error.status as ErrorStatus,
      message: error.message,
      expected: true,
    };
  }
  const row = HTTP_STATUS_TABLE.find((r) => error instanceof r.error);
  const message = error instanceof Error ? error.message : String(error);
  if (row) return { status: row.status, message, expected: true };
  return {
    status: 500,
    message: `internal error: ${message}`,
    expected: false,
  };
}

/**
 * `error` as an {@linkcode HttpError} when the table maps it (a `DataError`
 * becomes a 400 with the same message); any other error unchanged, to be
 * answered by the app's error handler.
 */
export function toHttpError(error: unknown): unknown {
  if (error instanceof HTTPException) return error;
  const answer = httpAnswerOf(error);
  if (!answer.expected) return error;
  const http = new HttpError(answer.status, answer.message);
  http.cause = error;
  return http;
}
