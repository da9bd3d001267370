import type { ServeApp } from "./app.ts";
import { type ConnectionGuard, startConnectionGuard } from "./conn_guard.ts";

/** Options for {@linkcode startServer}. */
export interface StartServerOptions {
  /** Interface to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /**
   * Most milliseconds from a request's first byte to the end of its headers
   * (0, the default: no limit). With this or `idleTimeoutMs`, a
   * {@linkcode startConnectionGuard} owns the clients' connections.
   */
  headerTimeoutMs?: number;
  /** Most milliseconds a connection may stay without traffic (0: no limit). */
  idleTimeoutMs?: number;
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

/**
 * Serves `served.app` with `Deno.serve` on loopback (or `hostname`). With
 * `headerTimeoutMs` or `idleTimeoutMs`, `Deno.serve` listens on a free port of
 * 127.0.0.1 and a connection guard in front of it takes the clients'
 * connections and enforces those timeouts, which `Deno.serve` lacks.
 */
export function startServer(
  served: ServeApp,
  options: StartServerOptions = {},
): RunningServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const guarded = (options.headerTimeoutMs ?? 0) > 0 ||
    (options.idleTimeoutMs ?? 0) > 0;
  const server = Deno.serve(
    {
      hostname: guarded ? "127.0.0.1" : hostname,
      port: guarded ? 0 : options.port ?? 0,
      onListen: () => {},
    },
    served.app.fetch,
  );
  let guard: ConnectionGuard | undefined;
  if (guarded) {
    try {
      guard = startConnectionGuard({
        hostname,
        port: options.port ?? 0,
        upstreamPort: server.addr.port,
        headerTimeoutMs: options.headerTimeoutMs ?? 0,
        idleTimeoutMs: options.idleTimeoutMs ?? 0,
      });
    } catch (error) {
      server.shutdown();
      throw error;
    }
  }
  const port = guard?.port ?? server.addr.port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    finished: server.finished,
    shutdown(): Promise<void> {
      stopping ??= (async () => {
        served.ready = false;
        guard?.close();
        // Deno's shutdown waits for in-flight requests, whose predictions
        // the batcher is still running; then nothing can queue more.
        await server.shutdown();
        guard?.closeAll();
        await served.drain();
      })();
      return stopping;
    },
  };
}
