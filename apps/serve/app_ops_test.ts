// The server's operational behaviour: input validation at the edge, the
// binary tensor extension, Hono's request id / logger / secure headers /
// CORS, Retry-After, /metrics and the body deadline.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { createApp, type ServeApp } from "./app.ts";
import { jsonLimitFor } from "./context.ts";
import { INFERENCE_HEADER } from "./protocol.ts";
import { type RunningServer, startServer } from "./server.ts";
import { BandRunner, greyPng } from "./testing.ts";

interface Harness {
  served: ServeApp;
  server: RunningServer;
  url: string;
  log: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

function start(
  options: Partial<Parameters<typeof createApp>[0]> = {},
): Harness {
  const log: string[] = [];
  const served = createApp({
    runner: new BandRunner(),
    accessLog: (line) => log.push(line),
    ...options,
  });
  const server = startServer(served, { port: 0 });
  return {
    served,
    server,
    url: server.url,
    log,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

const IMAGE = { name: "image", shape: [1, 8, 8, 1] };

function infer(
  url: string,
  body: BodyInit,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${url}/v2/models/bands/infer`, {
    method: "POST",
    body,
    headers,
  });
}

async function errorOf(res: Response): Promise<[number, string]> {
  const body = await res.json();
  return [res.status, body.error];
}

Deno.test("infer without a Content-Type is a 415, as the docs promise", async () => {
  await using h = start();
  const body = new TextEncoder().encode(JSON.stringify({
    inputs: [{ ...IMAGE, datatype: "UINT8", data: new Array(64).fill(1) }],
  }));
  // A Uint8Array body makes fetch send no Content-Type at all.
  const res = await infer(h.url, body, {});
  const [status, error] = await errorOf(res);
  assertEquals(status, 415);
  assertMatch(error, /content type "\(none\)" is not supported/);
});

Deno.test("FP32 values beyond float32 range are a 400, not null outputs", async () => {
  await using h = start();
  const data = new Array(64).fill(0.5);
  data[7] = 1e39;
  const res = await infer(
    h.url,
    JSON.stringify({ inputs: [{ ...IMAGE, datatype: "FP32", data }] }),
    { "content-type": "application/json" },
  );
  const [status, error] = await errorOf(res);
  assertEquals(status, 400);
  assertMatch(error, /data\[7\] is 1e\+39, outside the float32 range/);
  data[7] = 3.4e38; // within range: accepted
  const ok = await infer(
    h.url,
    JSON.stringify({ inputs: [{ ...IMAGE, datatype: "FP32", data }] }),
    { "content-type": "application/json" },
  );
  assertEquals(ok.status, 200);
  const body = await ok.json();
  assert(body.outputs[0].data.every((p: unknown) => typeof p === "number"));
});

Deno.test("the default JSON limit is the model's largest valid request; a larger body is refused unread", async () => {
  await using h = start({ limits: { maxImages: 4 } });
  const limit = jsonLimitFor({ height: 8, width: 8, channels: 1 }, 4);
  assertEquals(limit, 64 * 1024 + 4 * 64 * 24);
  assertEquals(h.served.app !== undefined, true);
  // the largest valid request: 4 images of the longest float32 literals
  const data = new Array(4 * 64).fill(-1.17549435e-38);
  const largest = JSON.stringify({
    inputs: [{ name: "image", shape: [4, 8, 8, 1], datatype: "FP32", data }],
  });
  assert(largest.length < limit);
  const ok = await infer(h.url, largest, {
    "content-type": "application/json",
  });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  const res = await infer(h.url, "x".repeat(limit + 1), {
    "content-type": "application/json",
  });
  const [status, error] = await errorOf(res);
  assertEquals(status, 413);
  assertMatch(error, new RegExp(`over the limit of ${limit} bytes`));
});

Deno.test("binary tensor data extension: UINT8 in, FP32 and BYTES out, equal to the JSON answer", async () => {
  await using h = start();
  const pixels = new Uint8Array(2 * 64);
  pixels.fill(30, 0, 64);
  pixels.fill(240, 64);
  const head = new TextEncoder().encode(JSON.stringify({
    id: "b",
    inputs: [{
      name: "image",
      shape: [2, 8, 8, 1],
      datatype: "UINT8",
      parameters: { binary_data_size: pixels.length },
    }],
    outputs: [
      { name: "probabilities", parameters: { binary_data: true } },
      { name: "label", parameters: { binary_data: true } },
    ],
  }));
  const body = new Uint8Array(head.length + pixels.length);
  body.set(head);
  body.set(pixels, head.length);
  const res = await infer(h.url, body, {
    "content-type": "application/octet-stream",
    [INFERENCE_HEADER]: String(head.length),
  });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/octet-stream");
  const bytes = new Uint8Array(await res.arrayBuffer());
  const jsonLength = Number(res.headers.get(INFERENCE_HEADER));
  const answer = JSON.parse(
    new TextDecoder().decode(bytes.subarray(0, jsonLength)),
  );
  assertEquals(answer.id, "b");
  const [probs, labels] = answer.outputs;
  assertEquals(probs.parameters, { binary_data_size: 2 * 5 * 4 });
  const floats = new Float32Array(
    bytes.slice(jsonLength, jsonLength + 40).buffer,
  );
  const json = await infer(
    h.url,
    JSON.stringify({
      inputs: [{
        name: "image",
        shape: [2, 8, 8, 1],
        datatype: "UINT8",
        data: Array.from(pixels),
      }],
    }),
    { "content-type": "application/json" },
  );
  const plain = await json.json();
  assertEquals(Array.from(floats), plain.outputs[0].data);
  const rest = bytes.subarray(jsonLength + 40);
  assertEquals(labels.parameters.binary_data_size, rest.length);
  const view = new DataView(rest.buffer, rest.byteOffset, rest.length);
  const first = new TextDecoder().decode(
    rest.subarray(4, 4 + view.getUint32(0, true)),
  );
  assertEquals(first, plain.outputs[1].data[0]);
  // a size that does not match the shape is named
  const bad = await infer(h.url, body.subarray(0, body.length - 1), {
    "content-type": "application/octet-stream",
    [INFERENCE_HEADER]: String(head.length),
  });
  const [status, error] = await errorOf(bad);
  assertEquals(status, 400);
  assertMatch(error, /127 bytes of binary data follow the JSON/);
});

Deno.test("every answer carries a request id, secure headers and an access log line with the id", async () => {
  await using h = start();
  const res = await fetch(`${h.url}/v2/health/live`, {
    headers: { "x-request-id": "trace-42" },
  });
  await res.body?.cancel();
  assertEquals(res.headers.get("x-request-id"), "trace-42");
  assertEquals(res.headers.get("x-content-type-options"), "nosniff");
  assertEquals(res.headers.get("x-frame-options"), "SAMEORIGIN");
  const other = await fetch(`${h.url}/nope`);
  await other.body?.cancel();
  const generated = other.headers.get("x-request-id") ?? "";
  assertMatch(generated, /^[0-9a-f-]{36}$/);
  assertEquals(h.log.length, 2);
  assertMatch(h.log[0], / trace-42 GET \/v2\/health\/live 200 /);
  assert(h.log[1].includes(` ${generated} GET /nope 404 `), h.log[1]);
});

Deno.test("the page's style and script carry the nonce of its Content-Security-Policy", async () => {
  await using h = start();
  const res = await fetch(`${h.url}/`);
  const html = await res.text();
  const csp = res.headers.get("content-security-policy") ?? "";
  const nonce = csp.match(/script-src 'nonce-([^']+)'/)?.[1];
  assert(nonce, csp);
  assertMatch(csp, /default-src 'none'/);
  assert(html.includes(`<script nonce="${nonce}">`));
  assert(html.includes(`<style nonce="${nonce}">`));
  const again = await fetch(`${h.url}/`);
  await again.body?.cancel();
  assert(
    !(again.headers.get("content-security-policy") ?? "").includes(nonce!),
    "a fresh nonce per page",
  );
});

Deno.test("CORS is off by default and, when on, allows only the listed origins", async () => {
  {
    await using h = start();
    const res = await fetch(`${h.url}/v1/model`, {
      headers: { origin: "https://a.example" },
    });
    await res.body?.cancel();
    assertEquals(res.headers.get("access-control-allow-origin"), null);
  }
  await using h = start({ corsOrigins: ["https://a.example"] });
  const allowed = await fetch(`${h.url}/v1/model`, {
    headers: { origin: "https://a.example" },
  });
  await allowed.body?.cancel();
  assertEquals(
    allowed.headers.get("access-control-allow-origin"),
    "https://a.example",
  );
  const other = await fetch(`${h.url}/v1/model`, {
    headers: { origin: "https://evil.example" },
  });
  await other.body?.cancel();
  assertEquals(other.headers.get("access-control-allow-origin"), null);
  const preflight = await fetch(`${h.url}/v2/models/bands/infer`, {
    method: "OPTIONS",
    headers: {
      origin: "https://a.example",
      "access-control-request-method": "POST",
    },
  });
  await preflight.body?.cancel();
  assertEquals(preflight.status, 204);
  assertMatch(
    preflight.headers.get("access-control-allow-methods") ?? "",
    /POST/,
  );
});

Deno.test("a full queue is a 503 with Retry-After; /metrics counts requests, latency, batch sizes and queues", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let calls = 0;
  await using h = start({
    batching: {
      maxQueue: 1,
      maxBatch: 1,
      windowMs: 0,
      beforeRun: () => calls++ === 0 ? held : undefined,
    },
  });
  const post = (value: number) =>
    fetch(`${h.url}/v1/predict`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: greyPng(8, 8, value),
    });
  const first = post(10); // taken by the held model call
  while (calls === 0) await new Promise((r) => setTimeout(r, 1));
  const second = post(20); // waits in the queue (limit 1)
  while (h.served.batcher.waiting === 0) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const third = await post(30);
  assertEquals(third.status, 503);
  assertEquals(third.headers.get("retry-after"), "1");
  assertMatch((await third.json()).error, /server busy/);
  const during = await (await fetch(`${h.url}/metrics`)).text();
  assertMatch(during, /^vitkd_batch_queue_depth 1$/m);
  release();
  assertEquals((await first).status, 200);
  assertEquals((await second).status, 200);
  const res = await fetch(`${h.url}/metrics`);
  assertMatch(
    res.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  const text = await res.text();
  assertMatch(
    text,
    /^vitkd_http_requests_total\{method="POST",route="\/v1\/predict",status="200"\} 2$/m,
  );
  assertMatch(
    text,
    /^vitkd_http_requests_total\{method="POST",route="\/v1\/predict",status="503"\} 1$/m,
  );
  assertMatch(text, /^vitkd_http_request_duration_seconds_count 4$/m);
  assertMatch(
    text,
    /^vitkd_http_request_duration_seconds_bucket\{le="\+Inf"\} 4$/m,
  );
  assertMatch(text, /^vitkd_batch_size_bucket\{le="1"\} 2$/m);
  assertMatch(text, /^vitkd_batch_size_count 2$/m);
  assertMatch(text, /^vitkd_batch_queue_depth 0$/m);
  assertMatch(text, /^vitkd_decode_queue_depth 0$/m);
});

/** Reads one HTTP/1.1 response (headers and a Content-Length body) from `conn`. */
async function readResponse(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  while (true) {
    const end = text.indexOf("\r\n\r\n");
    const length = Number(text.match(/content-length: (\d+)/i)?.[1] ?? NaN);
    if (end >= 0 && text.length >= end + 4 + length) return text;
    const n = await conn.read(buffer);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n));
  }
}

Deno.test("a body that stops short of its Content-Length gets a 408 with Connection: close", async () => {
  await using h = start({ limits: { bodyTimeoutMs: 300 } });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: h.server.port,
  });
  // Guard: without the deadline the server would hold the connection forever.
  const guard = setTimeout(() => conn.close(), 20_000);
  try {
    await conn.write(new TextEncoder().encode(
      "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" +
        "Content-Length: 1000\r\n\r\n" + "0123456789",
    ));
    const answer = await readResponse(conn);
    assertMatch(answer, /^HTTP\/1\.1 408 /);
    assertMatch(answer, /connection: close/i);
    assertMatch(answer, /not received within 300 ms \(--body-timeout-ms\)/);
  } finally {
    clearTimeout(guard);
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
});
