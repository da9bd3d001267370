import type { Context } from "hono";
import type { MicroBatcher, MicroBatcherOptions } from "./batcher.ts";
import type { ModelInfo } from "./runner.ts";

/** Request limits; every one is a `deno task serve` flag. */
export interface ServeLimits {
  /** Most bytes in one uploaded image (`--max-bytes`). */
  maxBytes: number;
  /** Most pixels (width x height) in one uploaded image (`--max-pixels`). */
  maxPixels: number;
  /** Most images in one request (`--max-images`). */
  maxImages: number;
  /** Most bytes in one inference JSON body (`--max-json-bytes`). */
  maxJsonBytes: number;
}

/** Default request limits. */
export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxImages: 64,
  maxJsonBytes: 64 * 1024 * 1024,
});

/** Default micro-batching settings. */
export const DEFAULT_BATCHING: Readonly<MicroBatcherOptions> = Object.freeze({
  maxBatch: 32,
  windowMs: 2,
  enabled: true,
  maxQueue: 4096,
});

/** What every route group needs: the model, the batcher, the limits. */
export interface ServeState {
  /** The served model. */
  info: ModelInfo;
  /** `name:version`. */
  modelId: string;
  /** Every prediction goes through it. */
  batcher: MicroBatcher;
  /** Request limits. */
  limits: ServeLimits;
  /** Classes listed per image when the request does not say. */
  topK: number;
  /** Whether the server takes new work (false once shutdown starts). */
  isReady(): boolean;
}

/** The request's media type, lower case, without parameters. */
export function mediaType(c: Context): string {
  return (c.req.header("content-type") ?? "").split(";")[0].trim()
    .toLowerCase();
}

/** Index of the largest value (the first on ties). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

/** A `bodyLimit` error handler: 413 naming the limit and its flag. */
export function tooLarge(
  what: string,
  limit: number,
  flag: string,
): (c: Context) => Response {
  return (c) =>
    c.json(
      { error: `${what} is over the limit of ${limit} bytes (${flag})` },
      413,
    );
}
