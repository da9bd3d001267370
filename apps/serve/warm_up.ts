/**
 * The server's start-up traffic: blank-image predictions sent through the
 * whole app (routing, middleware, the decode workers, the micro-batcher, the
 * model, the JSON answer) before it listens.
 */
import { BLANK_PNG } from "./decode_pool.ts";
import type { ServeApp } from "./app.ts";

/** Warm-up predictions `deno task serve` sends by default. */
export const DEFAULT_WARM_UP_REQUESTS = 1000;

/** How long the warm-up may take: on a slow device (a software GPU adapter) it stops early. */
export const WARM_UP_MAX_MS = 5000;

/** When the warm-up stops early. */
export interface WarmUpLimits {
  /** Milliseconds after which no new request is sent (default {@linkcode WARM_UP_MAX_MS}). */
  maxMs?: number;
  /** The clock (default `performance.now`). */
  now?: () => number;
}

/**
 * Sends `requests` predictions of a blank PNG through `served.app`
 * in-process, `concurrency` at a time, then forgets them in the counters
 * (`/metrics`, `/v1/stats`). The first clients then meet optimised code and
 * a heap at its working size: in the soak, RSS over the first 10,000
 * requests went from 1.26-1.29x its start without this to 1.06-1.08x.
 *
 * @param served The app, before it listens.
 * @param requests How many predictions (0: none).
 * @param concurrency How many in flight at once: enough to fill the largest
 *   batch, below the queues' limits.
 * @param limits When to stop early.
 * @returns How many predictions were sent.
 * @throws {Error} When a warm-up prediction is not answered with 200: a model
 *   that cannot answer a blank image should stop the start, not the first
 *   client.
 */
export async function warmUpRequests(
  served: ServeApp,
  requests: number,
  concurrency: number,
  limits: WarmUpLimits = {},
): Promise<number> {
  const now = limits.now ?? (() => performance.now());
  const deadline = now() + (limits.maxMs ?? WARM_UP_MAX_MS);
  let sent = 0;
  const client = async () => {
    while (sent < requests && now() < deadline) {
      sent++;
      const res = await served.app.fetch(
        new Request("http://warm-up.invalid/v1/predict", {
          method: "POST",
          body: BLANK_PNG.slice(),
          headers: { "content-type": "image/png" },
        }),
      );
      const body = await res.text();
      if (res.status !== 200) {
        sent = requests; // the other clients stop too
        throw new Error(
          `warm-up prediction failed: ${res.status} ${body.slice(0, 200)}`,
        );
      }
    }
  };
  await Promise.all(
    Array.from(
      { length: Math.max(1, Math.min(concurrency, requests)) },
      client,
    ),
  );
  served.resetCounters();
  return Math.min(sent, requests);
}
