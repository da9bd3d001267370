import { parseArgs } from "@std/cli/parse-args";
import { EXIT_CODES, exitCodesHelp, UsageError } from "@vitkd/train/errors";
import { BACKEND_CHOICES, type BackendChoice } from "@vitkd/backend";
import {
  DEFAULT_BATCHING,
  DEFAULT_LIMITS,
  type ServeLimits,
} from "./context.ts";
import { defaultDecodeWorkers } from "./decode_pool.ts";
import { DEFAULT_WARM_UP_REQUESTS, WARM_UP_MAX_MS } from "./warm_up.ts";

/** Everything `deno task serve` was asked to do. */
export interface ServeConfig {
  /** Model folder; undefined means the newest complete run under `runsDir`. */
  model?: string;
  /** Where trained runs live. */
  runsDir: string;
  /** Name the model is served under (default: the run's name). */
  name?: string;
  /** Interface to bind. */
  host: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** tfjs backend. */
  backend: BackendChoice;
  /** Request limits. */
  limits: ServeLimits;
  /** Most images per model call. */
  maxBatch: number;
  /** Micro-batching window in milliseconds. */
  batchWindowMs: number;
  /** Whether requests share model calls. */
  batching: boolean;
  /** Most images waiting. */
  maxQueue: number;
  /** Default number of classes listed per image. */
  topK: number;
  /** Decode worker threads. */
  decodeWorkers: number;
  /** Uploads waiting for a decode worker before answering 503. */
  maxDecodeQueue: number;
  /** Blank-image requests sent through the app before listening; 0: none. */
  warmUpRequests: number;
  /** Origins allowed to call the API from a browser (CORS); empty: CORS off. */
  corsOrigins: string[];
  /** Whether each request is logged to stderr. */
  accessLog: boolean;
  /** Most ms from a request's first byte to the end of its headers; 0: none. */
  headerTimeoutMs: number;
  /** Most ms a connection may stay without traffic; 0: none. */
  idleTimeoutMs: number;
  /** Whether `--help` was asked for. */
  help: boolean;
}

// The apps' one UsageError: `main` reports it and exits 2, as train does.
export { UsageError };

/** `deno task serve --help`. */
export const HELP = `Usage: deno task serve [options]

Serve a trained vitkd student over HTTP: an image endpoint, the Open Inference
Protocol (KServe v2) and a web page to try it.

Model:
  --model DIR          saved model folder (default: the student of the newest
                       complete run under --runs)
  --runs DIR           where 'deno task train' writes runs (default: runs)
  --name NAME          model name in URLs (default: the run's folder name)
  --backend NAME       auto | webgpu | wasm | cpu (default: auto)

Network:
  --host HOST          interface to bind (default: 127.0.0.1)
  --port PORT          port; 0 picks a free one (default: 8000)

Network:
  --cors-origin URL    allow browser calls from this origin (repeatable;
                       default: none, CORS off)
  --no-access-log      do not log each request to stderr
  --body-timeout-ms MS time to receive a request body once its headers are in
                       (default: ${DEFAULT_LIMITS.bodyTimeoutMs}); later: 408
  --header-timeout-ms MS  time from a request's first byte to the end of its
                       headers; later: 408 and the connection closed
                       (default: 0, off)
  --idle-timeout-ms MS time a connection may stay without traffic before it
                       is closed (default: 0, off). Either timeout puts a
                       connection guard in front of Deno.serve, which has
                       no timeouts of its own

Limits:
  --max-bytes N        bytes per uploaded image (default: ${DEFAULT_LIMITS.maxBytes})
  --max-batch-bytes N  bytes per multipart batch upload (default: ${DEFAULT_LIMITS.maxBatchBytes})
  --max-pixels N       pixels per uploaded image, read from the header
                       before decoding (default: ${DEFAULT_LIMITS.maxPixels})
  --max-aspect-ratio R longer side / shorter side (default: ${DEFAULT_LIMITS.maxAspectRatio})
  --max-images N       images per request (default: ${DEFAULT_LIMITS.maxImages})
  --max-json-bytes N   bytes per inference request body (default: the model's
                       largest valid request, 24 bytes a value + 64 KiB)

Decoding:
  --decode-workers N   worker threads decoding uploads (default: ${defaultDecodeWorkers()})
  --max-decode-queue N uploads waiting for a worker before answering 503
                       (default: 256)
  --warm-up-requests N blank-image predictions sent through the whole app
                       (in-process, not counted in /metrics) before the
                       server listens, so its code and memory are at their
                       working size from the first client; stops after
                       ${
  WARM_UP_MAX_MS / 1000
} s on a slow device (default: ${DEFAULT_WARM_UP_REQUESTS}; 0: off)

Micro-batching:
  --max-batch N        most images per model call (default: ${DEFAULT_BATCHING.maxBatch})
  --batch-window-ms MS how long a request waits for others to join its batch
                       (default: ${DEFAULT_BATCHING.windowMs})
  --no-batching        run each request on its own
  --max-queue N        images waiting before answering 503 (default: ${DEFAULT_BATCHING.maxQueue})

Output:
  --top-k K            classes listed per image by /v1/predict (default: 5)
  --help               show this help

Routes: GET /, POST /v1/predict, POST /v1/predict/batch, GET /v1/model,
GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}[/ready],
POST /v2/models/{name}/infer. See docs/serving.md.

${
  exitCodesHelp([
    EXIT_CODES.ok,
    EXIT_CODES.unexpected,
    EXIT_CODES.usage,
    EXIT_CODES.model,
    EXIT_CODES.backend,
  ])
}
`;

const STRING_FLAGS = [
  "model",
  "runs",
  "name",
  "host",
  "port",
  "backend",
  "max-bytes",
  "max-pixels",
  "max-images",
  "max-json-bytes",
  "max-batch",
  "batch-window-ms",
  "max-queue",
  "top-k",
  "max-batch-bytes",
  "max-aspect-ratio",
  "body-timeout-ms",
  "decode-workers",
  "max-decode-queue",
  "warm-up-requests",
  "header-timeout-ms",
  "idle-timeout-ms",
] as const;
const REPEATABLE_FLAGS = ["cors-origin"] as const;
const BOOLEAN_FLAGS = ["help", "batching", "access-log"] as const;

function integerFlag(
  flags: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (
    String(raw).trim() === "" || !Number.isInteger(value) || value < min ||
    value > max
  ) {
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

function stringFlag(
  flags: Record<string, unknown>,
  name: string,
): string | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || raw === "") {
    throw new UsageError(`--${name} needs a value`);
  }
  return raw;
}

/**
 * Parses `deno task serve` arguments.
 *
 * @throws {UsageError} for an unknown flag, a stray argument or a bad value
 */
export function parseServeArgs(args: string[]): ServeConfig {
  const unknown: string[] = [];
  const flags = parseArgs(args, {
    string: [...STRING_FLAGS, ...REPEATABLE_FLAGS],
    boolean: [...BOOLEAN_FLAGS],
    collect: [...STRING_FLAGS, ...REPEATABLE_FLAGS],
    negatable: ["batching", "access-log"],
    default: { batching: true, "access-log": true },
    unknown: (arg: string) => {
      unknown.push(arg);
      return false;
    },
  }) as Record<string, unknown> & { _: unknown[] };
  for (const name of STRING_FLAGS) {
    const values = flags[name] as string[] | undefined;
    if (values && values.length > 1) {
      throw new UsageError(`--${name} given more than once`);
    }
    flags[name] = values?.[0];
  }
  const backend = stringFlag(flags, "backend") ?? "auto";
  if (!BACKEND_CHOICES.includes(backend as BackendChoice)) {
    throw new UsageError(
      `--backend must be one of ${
        BACKEND_CHOICES.join(", ")
      }, got "${backend}"`,
    );
  }
  const corsOrigins = (flags["cors-origin"] as string[] | undefined) ?? [];
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new UsageError(
        `--cors-origin must be an origin like https://example.org (scheme and host, no path), got "${origin}"`,
      );
    }
  }
  const jsonBytes = flags["max-json-bytes"] === undefined
    ? undefined
    : integerFlag(flags, "max-json-bytes", 0, 1);
  const config: ServeConfig = {
    model: stringFlag(flags, "model"),
    runsDir: stringFlag(flags, "runs") ?? "runs",
    name: stringFlag(flags, "name"),
    host: stringFlag(flags, "host") ?? "127.0.0.1",
    port: integerFlag(flags, "port", 8000, 0, 65535),
    backend: backend as BackendChoice,
    limits: {
      maxBytes: integerFlag(flags, "max-bytes", DEFAULT_LIMITS.maxBytes, 1),
      maxBatchBytes: integerFlag(
        flags,
        "max-batch-bytes",
        DEFAULT_LIMITS.maxBatchBytes,
        1,
      ),
      maxPixels: integerFlag(flags, "max-pixels", DEFAULT_LIMITS.maxPixels, 1),
      maxAspectRatio: integerFlag(
        flags,
        "max-aspect-ratio",
        DEFAULT_LIMITS.maxAspectRatio,
        1,
      ),
      maxResizeBytes: DEFAULT_LIMITS.maxResizeBytes,
      maxImages: integerFlag(flags, "max-images", DEFAULT_LIMITS.maxImages, 1),
      maxJsonBytes: jsonBytes,
      bodyTimeoutMs: integerFlag(
        flags,
        "body-timeout-ms",
        DEFAULT_LIMITS.bodyTimeoutMs,
        1,
        3_600_000,
      ),
    },
    maxBatch: integerFlag(
      flags,
      "max-batch",
      DEFAULT_BATCHING.maxBatch,
      1,
      4096,
    ),
    batchWindowMs: integerFlag(
      flags,
      "batch-window-ms",
      DEFAULT_BATCHING.windowMs,
      0,
      10_000,
    ),
    batching: flags.batching as boolean,
    maxQueue: integerFlag(flags, "max-queue", DEFAULT_BATCHING.maxQueue, 1),
    topK: integerFlag(flags, "top-k", 5, 1),
    decodeWorkers: integerFlag(
      flags,
      "decode-workers",
      defaultDecodeWorkers(),
      1,
      64,
    ),
    maxDecodeQueue: integerFlag(flags, "max-decode-queue", 256, 0),
    warmUpRequests: integerFlag(
      flags,
      "warm-up-requests",
      DEFAULT_WARM_UP_REQUESTS,
      0,
      1_000_000,
    ),
    corsOrigins,
    accessLog: flags["access-log"] as boolean,
    headerTimeoutMs: integerFlag(flags, "header-timeout-ms", 0, 0, 3_600_000),
    idleTimeoutMs: integerFlag(flags, "idle-timeout-ms", 0, 0, 86_400_000),
    help: flags.help as boolean,
  };
  // Bad values first: `--port ""` also hands the empty value to `unknown`.
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown ${unknown.length === 1 ? "argument" : "arguments"}: ${
        unknown.map((a) => a === "" ? '""' : a).join(" ")
      }`,
    );
  }
  return config;
}
