import { Hono } from "hono";
import { contextStorage, getContext } from "hono/context-storage";
import { cors } from "hono/cors";
import { logger } from "hono/logger";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { routePath } from "hono/route";
import {
  NONCE,
  secureHeaders,
  type SecureHeadersVariables,
} from "hono/secure-headers";
import { MicroBatcher, type MicroBatcherOptions } from "./batcher.ts";
import { bodyDeadline } from "./body_deadline.ts";
import {
  DEFAULT_BATCHING,
  DEFAULT_LIMITS,
  jsonLimitFor,
  type ServeLimits,
  type ServeState,
} from "./context.ts";
import {
  DecodePool,
  type DecodePoolOptions,
  defaultDecodeWorkers,
} from "./decode_pool.ts";
import { httpAnswerOf } from "./error_status.ts";
import { Metrics } from "./metrics.ts";
import { renderPage } from "./page.ts";
import { imageRoutes } from "./routes_v1.ts";
import { inferenceRoutes } from "./routes_v2.ts";
import type { ModelRunner } from "./runner.ts";

/** The variables the app's middleware sets on every request's context. */
export type ServeEnv = {
  Variables: RequestIdVariables & SecureHeadersVariables;
};

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** The model to serve. */
  runner: ModelRunner;
  /** Micro-batching settings; defaults in {@linkcode DEFAULT_BATCHING}. */
  batching?: Partial<MicroBatcherOptions>;
  /** Request limits; defaults in {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServeLimits>;
  /** Decode worker pool (default: {@linkcode defaultDecodeWorkers}, queue 256). */
  decoding?: Partial<DecodePoolOptions>;
  /** Classes listed per image in `/v1/predict` answers (default 5). */
  topK?: number;
  /** Where access log lines go, one per request with its id (default: none). */
  accessLog?: (line: string) => void;
  /** Origins allowed to call the API from a browser (default: none, CORS off). */
  corsOrigins?: string[];
}

/** A served app: the Hono app plus the state the server shuts down. */
export interface ServeApp {
  /** The Hono app; pass `app.fetch` to `Deno.serve`. */
  app: Hono<ServeEnv>;
  /** The micro-batcher every prediction goes through. */
  batcher: MicroBatcher;
  /** The pool decoding uploads off the event loop. */
  decoder: DecodePool;
  /** The counters `/metrics` shows. */
  metrics: Metrics;
  /** The model. */
  runner: ModelRunner;
  /** Whether `/v2/health/ready` says ready; false once shutdown starts. */
  ready: boolean;
  /** Stops taking predictions, waits for queued ones, stops the decode workers. */
  drain(): Promise<void>;
  /** Zeroes the counters of `/metrics` and `/v1/stats` (after the warm-up). */
  resetCounters(): void;
}

// Hono's logger colours the status on a terminal; a log line has no colours.
// deno-lint-ignore no-control-regex
const ANSI_COLOR = /\x1b\[[0-9;]*m/g;

/** Seconds a client is asked to wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Builds the Hono app that serves `options.runner`: the image endpoints
 * (`/v1/predict`, `/v1/predict/batch`), the Open Inference Protocol (`/v2/...`),
 * `/metrics` and the web page (`/`). Every prediction goes through one
 * micro-batcher; every upload is decoded in a worker pool.
 *
 * @example
 * ```ts ignore
 * const served = createApp({ runner });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, served.app.fetch);
 * ```
 */
export function createApp(options: AppOptions): ServeApp {
  const { runner } = options;
  const info = runner.info;
  const merged = { ...DEFAULT_LIMITS, ...options.limits };
  const limits = {
    ...merged,
    maxJsonBytes: merged.maxJsonBytes ??
      jsonLimitFor(info.input, merged.maxImages),
  };
  const metrics = new Metrics();
  const batcher = new MicroBatcher(runner, {
    ...DEFAULT_BATCHING,
    ...options.batching,
    onBatch: (count) => {
      metrics.batch(count);
      options.batching?.onBatch?.(count);
    },
  });
  const decoder = new DecodePool({
    workers: options.decoding?.workers ?? defaultDecodeWorkers(),
    maxQueue: options.decoding?.maxQueue ?? 256,
  });
  metrics.setGauges({
    batchQueue: () => batcher.waiting,
    decodeQueue: () => decoder.stats.queued,
    decodeBusy: () => decoder.stats.busy,
  });
  const modelId = `${info.name}:${info.version}`;
  const app = new Hono<ServeEnv>();
  const state: ServeState = {
    info,
    modelId,
    batcher,
    decoder,
    metrics,
    limits,
    topK: options.topK ?? 5,
    isReady: () => served.ready,
  };
  const served: ServeApp = {
    app,
    batcher,
    decoder,
    metrics,
    runner,
    ready: true,
    async drain() {
      served.ready = false;
      await batcher.close();
      decoder.close();
    },
    resetCounters() {
      metrics.reset();
      batcher.resetStats();
      decoder.resetStats();
    },
  };

  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    metrics.request(
      c.req.method,
      routePath(c),
      c.res.status,
      (performance.now() - started) / 1000,
    );
  });
  if (options.accessLog) {
    const write = options.accessLog;
    // Hono's logger, with the request id read from the context storage.
    app.use(contextStorage());
    app.use(logger((line) => {
      if (line.startsWith("<--")) return; // one line per request: the answer
      const id = getContext<ServeEnv>().var.requestId;
      const plain = line.slice(4).replace(ANSI_COLOR, "");
      write(`${new Date().toISOString()} ${id} ${plain}`);
    }));
  }
  app.use(secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [NONCE],
      styleSrc: [NONCE],
      imgSrc: ["'self'", "blob:", "data:"],
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
    // plain HTTP on loopback by default: HSTS would pin a name to HTTPS
    strictTransportSecurity: false,
  }));
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: options.corsOrigins,
        allowMethods: ["GET", "POST", "OPTIONS"],
        allowHeaders: ["Content-Type", "Inference-Header-Content-Length"],
        exposeHeaders: ["X-Request-Id", "Inference-Header-Content-Length"],
      }),
    );
  }
  app.use(bodyDeadline(limits.bodyTimeoutMs));

  app.get("/", (c) => c.html(renderPage(info, c.get("secureHeadersNonce"))));
  app.get("/metrics", (c) =>
    c.text(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  app.route("/v1", imageRoutes(state));
  app.route("/v2", inferenceRoutes(state));

  app.notFound((c) =>
    c.json(
      {
        error: `no route for ${c.req.method} ${
          new URL(c.req.url).pathname
        }; see GET / and /v2`,
      },
      404,
    )
  );

  // Statuses come from HTTP_STATUS_TABLE (error_status.ts), in one place.
  app.onError((error, c) => {
    const answer = httpAnswerOf(error);
    if (!answer.expected) {
      console.error(
        `serve: ${c.req.method} ${c.req.path} (${c.get("requestId")}) failed:`,
        error,
      );
    }
    const headers: Record<string, string> = answer.status === 503
      ? { "retry-after": String(RETRY_AFTER_SECONDS) }
      : {};
    return c.json({ error: answer.message }, answer.status, headers);
  });

  return served;
}
