import { Hono } from "hono";
import {
  BatcherClosedError,
  MicroBatcher,
  type MicroBatcherOptions,
  QueueFullError,
} from "./batcher.ts";
import {
  DEFAULT_BATCHING,
  DEFAULT_LIMITS,
  type ServeLimits,
  type ServeState,
} from "./context.ts";
import { type ErrorStatus, HttpError } from "./errors.ts";
import { renderPage } from "./page.ts";
import { imageRoutes } from "./routes_v1.ts";
import { inferenceRoutes } from "./routes_v2.ts";
import type { ModelRunner } from "./runner.ts";

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** The model to serve. */
  runner: ModelRunner;
  /** Micro-batching settings; defaults in {@linkcode DEFAULT_BATCHING}. */
  batching?: Partial<MicroBatcherOptions>;
  /** Request limits; defaults in {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServeLimits>;
  /** Classes listed per image in `/v1/predict` answers (default 5). */
  topK?: number;
}

/** A served app: the Hono app plus the state the server shuts down. */
export interface ServeApp {
  /** The Hono app; pass `app.fetch` to `Deno.serve`. */
  app: Hono;
  /** The micro-batcher every prediction goes through. */
  batcher: MicroBatcher;
  /** The model. */
  runner: ModelRunner;
  /** Whether `/v2/health/ready` says ready; false once shutdown starts. */
  ready: boolean;
  /** Stops taking predictions and waits for queued ones to finish. */
  drain(): Promise<void>;
}

/**
 * Builds the Hono app that serves `options.runner`: the image endpoints
 * (`/v1/predict`, `/v1/predict/batch`), the Open Inference Protocol (`/v2/...`)
 * and the web page (`/`). Every prediction goes through one micro-batcher.
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
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const batching = { ...DEFAULT_BATCHING, ...options.batching };
  const batcher = new MicroBatcher(runner, batching);
  const modelId = `${info.name}:${info.version}`;
  const app = new Hono();
  const state: ServeState = {
    info,
    modelId,
    batcher,
    limits,
    topK: options.topK ?? 5,
    isReady: () => served.ready,
  };
  const served: ServeApp = {
    app,
    batcher,
    runner,
    ready: true,
    drain() {
      served.ready = false;
      return batcher.close();
    },
  };
  app.get("/", (c) => c.html(renderPage(info)));
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

  app.onError((error, c) => {
    if (error instanceof HttpError) {
      return c.json({ error: error.message }, error.status);
    }
    if (
      error instanceof QueueFullError || error instanceof BatcherClosedError
    ) {
      return c.json({ error: error.message }, 503 satisfies ErrorStatus);
    }
    console.error(`serve: ${c.req.method} ${c.req.path} failed:`, error);
    return c.json({
      error: `internal error: ${(error as Error).message ?? error}`,
    }, 500);
  });

  return served;
}
