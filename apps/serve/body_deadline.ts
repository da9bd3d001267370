import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors.ts";

/**
 * A deadline for receiving the request body: `ms` milliseconds from the
 * moment the headers are in (when the app sees the request). A client that
 * sends a `Content-Length` and then too few bytes, or trickles them, gets a
 * 408 with `Connection: close`, and the connection is closed instead of
 * holding a request open.
 *
 * `Deno.serve` has no header, body or idle timeouts of its own; this is the
 * part an application can enforce, because a request reaches the app only
 * once its headers are complete.
 */
export function bodyDeadline(ms: number): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body || !(ms > 0)) return await next();
    const reader = raw.body.getReader();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(
          new HttpError(
            408,
            `request body not received within ${ms} ms (--body-timeout-ms)`,
          ),
        );
      }, ms);
    });
    expired.catch(() => {}); // raced below; only the race's loser is unobserved
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const chunk = await Promise.race([reader.read(), expired]);
          if (chunk.done) {
            clearTimeout(timer);
            controller.close();
          } else {
            controller.enqueue(chunk.value);
          }
        } catch (error) {
          clearTimeout(timer);
          reader.cancel().catch(() => {});
          controller.error(error);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    c.req.raw = new Request(raw, { body, duplex: "half" } as RequestInit);
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
    if (timedOut) {
      // Whatever the handler made of the cut body, the answer is the timeout.
      c.res = c.json(
        {
          error:
            `request body not received within ${ms} ms (--body-timeout-ms)`,
        },
        408,
        { connection: "close" },
      );
    }
  };
}
