/** Options for {@linkcode startConnectionGuard}. */
export interface ConnectionGuardOptions {
  /** Interface clients connect to. */
  hostname: string;
  /** Port clients connect to; 0 picks a free one. */
  port: number;
  /** Port of the `Deno.serve` server on 127.0.0.1 that requests go to. */
  upstreamPort: number;
  /**
   * Most milliseconds from a request's first byte to the end of its
   * headers; 0 turns it off.
   */
  headerTimeoutMs: number;
  /** Most milliseconds without a byte either way; 0 turns it off. */
  idleTimeoutMs: number;
  /** Most bytes of request headers (default 64 KiB). */
  maxHeaderBytes?: number;
}

/** A running guard. */
export interface ConnectionGuard {
  /** The port clients connect to. */
  port: number;
  /** Connections closed for a timeout so far. */
  readonly closedForTimeout: number;
  /** Connections open now. */
  readonly open: number;
  /** Stops accepting; open connections finish or are closed by their timers. */
  close(): void;
  /** Closes every open connection at once. */
  closeAll(): void;
}

const TIMEOUT_BODY = '{"error":"request headers not received in time"}';
const TIMEOUT_RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n" +
    `content-type: application/json\r\ncontent-length: ${TIMEOUT_BODY.length}\r\n\r\n` +
    TIMEOUT_BODY,
);
const LATIN1 = new TextDecoder("latin1");
const TOO_LARGE_RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
);

/**
 * A TCP front for a `Deno.serve` server, for the timeouts `Deno.serve` does
 * not have: it owns the client's socket, forwards the bytes both ways to the
 * server on 127.0.0.1, and follows the HTTP/1.1 request framing
 * (`Content-Length`; a chunked body ends the framing for that connection) to
 * close a connection whose request headers take longer than
 * `headerTimeoutMs` (answering 408) or on which no byte moved either way for
 * `idleTimeoutMs` (slowloris, forgotten keep-alive connections).
 */
export function startConnectionGuard(
  options: ConnectionGuardOptions,
): ConnectionGuard {
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
  });
  const maxHeaderBytes = options.maxHeaderBytes ?? 64 * 1024;
  const open = new Set<() => void>();
  let closedForTimeout = 0;
  let accepting = true;

  const serve = async (client: Deno.Conn) => {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({
        hostname: "127.0.0.1",
        port: options.upstreamPort,
      });
    } catch {
      // The server behind the guard is gone (shutting down): drop the client.
      client.close();
      return;
    }
    let closed = false;
    let headerTimer: ReturnType<typeof setTimeout> | undefined;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const shut = () => {
      if (closed) return;
      closed = true;
      clearTimeout(headerTimer);
      clearTimeout(idleTimer);
      open.delete(shut);
      for (const conn of [client, upstream]) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    };
    open.add(shut);
    const timeout = async (answer?: Uint8Array) => {
      if (closed) return;
      closedForTimeout++;
      // Best effort: the client may be gone; the connection closes either way.
      if (answer) await client.write(answer).catch(() => {});
      shut();
    };
    const touch = () => {
      if (!(options.idleTimeoutMs > 0) || closed) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => timeout(), options.idleTimeoutMs);
    };
    touch();

    // Request framing: "head" until the blank line, then "body" for
    // Content-Length bytes, then "head" again; "opaque" after a chunked
    // body (only the idle timer then).
    let phase: "head" | "body" | "opaque" = "head";
    let head = "";
    let bodyLeft = 0;
    const startHead = () => {
      if (options.headerTimeoutMs > 0 && headerTimer === undefined) {
        headerTimer = setTimeout(
          () => timeout(TIMEOUT_RESPONSE),
          options.headerTimeoutMs,
        );
      }
    };
    const follow = (bytes: Uint8Array): boolean => {
      let at = 0;
      while (at < bytes.length) {
        if (phase === "opaque") return true;
        if (phase === "body") {
          const take = Math.min(bodyLeft, bytes.length - at);
          bodyLeft -= take;
          at += take;
          if (bodyLeft === 0) phase = "head";
          continue;
        }
        startHead();
        // A single-byte decoding keeps offsets in characters equal to bytes.
        const before = head.length;
        head += LATIN1.decode(bytes.subarray(at));
        const end = head.indexOf("\r\n\r\n", Math.max(0, before - 3));
        if (end < 0) {
          if (head.length > maxHeaderBytes) {
            timeout(TOO_LARGE_RESPONSE);
            return false;
          }
          return true;
        }
        at += end + 4 - before;
        const fields = head.slice(0, end).toLowerCase();
        head = "";
        clearTimeout(headerTimer);
        headerTimer = undefined;
        if (/\r\ntransfer-encoding:[^\r]*chunked/.test(fields)) {
          phase = "opaque";
          return true;
        }
        bodyLeft = Number(
          fields.match(/\r\ncontent-length:\s*(\d+)/)?.[1] ?? 0,
        );
        phase = bodyLeft > 0 ? "body" : "head";
      }
      return true;
    };

    const pump = async (
      from: Deno.Conn,
      to: Deno.Conn,
      inspect?: (bytes: Uint8Array) => boolean,
    ) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (!closed) {
          const n = await from.read(buffer);
          if (n === null) break;
          touch();
          const bytes = buffer.subarray(0, n);
          if (inspect && !inspect(bytes)) return;
          let written = 0;
          while (written < n) {
            written += await to.write(bytes.subarray(written));
          }
        }
      } catch {
        // a closed socket ends the pump
      }
      shut();
    };
    await Promise.all([pump(client, upstream, follow), pump(upstream, client)]);
  };

  (async () => {
    try {
      for await (const conn of listener) {
        if (!accepting) {
          conn.close();
          continue;
        }
        serve(conn);
      }
    } catch {
      // the listener was closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get closedForTimeout() {
      return closedForTimeout;
    },
    get open() {
      return open.size;
    },
    close() {
      if (!accepting) return;
      accepting = false;
      listener.close();
    },
    closeAll() {
      for (const shut of [...open]) shut();
    },
  };
}
