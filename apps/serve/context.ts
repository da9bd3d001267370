import type { Context } from "hono";
import type { MicroBatcher, MicroBatcherOptions } from "./batcher.ts";
import type { DecodePool } from "./decode_pool.ts";
import type { Metrics } from "./metrics.ts";
import type { ModelInfo } from "./runner.ts";

/** Request limits; every one is a `deno task serve` flag. */
export interface ServeLimits {
  /** Most bytes in one uploaded image (`--max-bytes`). */
  maxBytes: number;
  /** Most bytes in one multipart batch upload (`--max-batch-bytes`). */
  maxBatchBytes: number;
  /** Most pixels (width x height) in one uploaded image (`--max-pixels`). */
  maxPixels: number;
  /** Most `longer side / shorter side` of an uploaded image (`--max-aspect-ratio`). */
  maxAspectRatio: number;
  /** Most working memory for resizing one image: filter tables and float rows. */
  maxResizeBytes: number;
  /** Most images in one request (`--max-images`). */
  maxImages: number;
  /**
   * Most bytes in one inference request body (`--max-json-bytes`); undefined
   * sizes it to the model's largest valid request ({@linkcode jsonLimitFor}).
   */
  maxJsonBytes?: number;
  /** Most milliseconds to receive a request body once its headers are in (`--body-timeout-ms`). */
  bodyTimeoutMs: number;
}

/** Default request limits. */
export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxBatchBytes: 32 * 1024 * 1024,
  maxPixels: 16_000_000,
  maxAspectRatio: 64,
  maxResizeBytes: 64 * 1024 * 1024,
  maxImages: 64,
  maxJsonBytes: undefined,
  bodyTimeoutMs: 30_000,
});

/**
 * Bytes per tensor value allowed in a JSON inference request: the longest
 * float32 literal (`-1.17549435e-38`, 15 characters), a separator and room for
 * nesting brackets and some whitespace.
 */
export const JSON_BYTES_PER_VALUE = 24;

/**
 * The largest valid inference request for the model, in bytes: `maxImages`
 * images of `height * width * channels` values at
 * {@linkcode JSON_BYTES_PER_VALUE} each, plus 64 KiB for the rest of the JSON.
 * A body over it cannot be valid, so it is refused before it is read.
 */
export function jsonLimitFor(
  input: { height: number; width: number; channels: number },
  maxImages: number,
): number {
  return 64 * 1024 +
    maxImages * input.height * input.width * input.channels *
      JSON_BYTES_PER_VALUE;
}

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
  /** Request limits, the JSON limit resolved. */
  limits: ServeLimits & { maxJsonBytes: number };
  /** Decodes uploads off the event loop. */
  decoder: DecodePool;
  /** Request and model-call counters for `/metrics`. */
  metrics: Metrics;
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
