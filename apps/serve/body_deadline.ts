import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors.ts";

/**
 * A deadline for receiving the request body: `ms` milliseconds from the
 * moment the headers are in (when the app sees the request). A client that
 * sends a `Content-Length` and then too few bytes, or trickles them, gets a
 * 408 with `Connection: close` at the deadline, and the handler's work and
 * the buffered body are released, instead of a request held open forever.
 *
 * What an app on `Deno.serve` (Deno 2.9) cannot do: it has no header-read,
 * body or idle timeout options, and it does not hand the socket to the app.
 * So a client that never completes its headers never reaches this
 * middleware, an idle keep-alive connection is never closed, and after the
 * 408 the connection is closed only when the client sends the rest of its
 * declared body or hangs up (Deno keeps the HTTP/1.1 framing). Those need a
 * proxy in front of the server (docs/serving.md).
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
          // Best effort: the body fails with `error` whether or not it cancels.
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
