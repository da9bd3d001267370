import type { ServeApp } from "./app.ts";

/** Options for {@linkcode startServer}. */
export interface StartServerOptions {
  /** Interface to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** Bound port. */
  port: number;
  /**
   * Graceful stop: readiness turns false, new connections are refused,
   * in-flight requests complete, queued predictions finish. Safe to call twice.
   */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** Serves `served.app` with `Deno.serve` on loopback (or `hostname`). */
export function startServer(
  served: ServeApp,
  options: StartServerOptions = {},
): RunningServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve(
    { hostname, port: options.port ?? 0, onListen: () => {} },
    served.app.fetch,
  );
  const port = server.addr.port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    finished: server.finished,
    shutdown(): Promise<void> {
      stopping ??= (async () => {
        served.ready = false;
        // Deno's shutdown waits for in-flight requests, whose predictions
        // the batcher is still running; then nothing can queue more.
        await server.shutdown();
        await served.drain();
      })();
      return stopping;
    },
  };
}
