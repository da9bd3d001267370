import { assert, assertEquals, assertMatch } from "@std/assert";
import { createApp } from "./app.ts";
import { startServer } from "./server.ts";
import { BandRunner, greyPng } from "./testing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Everything the server sends until it closes the connection (guarded by a 20 s cap). */
async function readUntilClosed(conn: Deno.Conn): Promise<string> {
  const guard = setTimeout(() => conn.close(), 20_000);
  let text = "";
  const buffer = new Uint8Array(4096);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
    text += "[closed by the test's 20 s cap]";
  } finally {
    clearTimeout(guard);
  }
  return text;
}

function guarded(headerTimeoutMs: number, idleTimeoutMs: number) {
  const served = createApp({ runner: new BandRunner() });
  const server = startServer(served, {
    port: 0,
    headerTimeoutMs,
    idleTimeoutMs,
  });
  return {
    server,
    connect: () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("connection guard: headers that never end get a 408 and the connection is closed", async () => {
  await using h = guarded(300, 0);
  const conn = await h.connect();
  await conn.write(
    encoder.encode("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"),
  );
  const answer = await readUntilClosed(conn);
  assertMatch(answer, /^HTTP\/1\.1 408 Request Timeout/);
  assertMatch(answer, /request headers not received in time/);
});

Deno.test("connection guard: an idle keep-alive connection is closed", async () => {
  await using h = guarded(0, 300);
  const conn = await h.connect();
  await conn.write(
    encoder.encode("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"),
  );
  // the answer, then silence: the guard closes the connection
  const answer = await readUntilClosed(conn);
  assertMatch(answer, /^HTTP\/1\.1 200 OK/);
  assert(answer.includes('{"live":true}'), answer);
  assert(!answer.includes("[closed by the test"), answer);
});

Deno.test("connection guard: keep-alive requests with bodies pass through and are framed", async () => {
  await using h = guarded(5_000, 5_000);
  const png = greyPng(8, 8, 250);
  const conn = await h.connect();
  try {
    // two requests on one connection, the second's headers in two writes
    const head = (close: boolean) =>
      encoder.encode(
        `POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${png.length}\r\n${
          close ? "Connection: close\r\n" : ""
        }\r\n`,
      );
    await conn.write(head(false));
    await conn.write(png);
    const second = head(true);
    await conn.write(second.subarray(0, 20));
    await conn.write(second.subarray(20));
    await conn.write(png);
    const answer = await readUntilClosed(conn);
    assertEquals(answer.match(/HTTP\/1\.1 200 OK/g)?.length, 2, answer);
    assertEquals(answer.match(/"model":"bands:v1"/g)?.length, 2, answer);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  // and fetch works through it as usual
  const res = await fetch(`${h.server.url}/v2/health/ready`);
  assertEquals(await res.json(), { ready: true });
});
