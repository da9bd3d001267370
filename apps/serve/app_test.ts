import { assert, assertEquals, assertMatch } from "@std/assert";
import { createApp, type ServeApp } from "./app.ts";
import type { PredictResponse } from "./routes_v1.ts";
import { type RunningServer, startServer } from "./server.ts";
import { BandRunner, encodeJpeg, encodePng, greyPng } from "./testing.ts";

interface Harness {
  runner: BandRunner;
  served: ServeApp;
  server: RunningServer;
  url: string;
  [Symbol.asyncDispose](): Promise<void>;
}

function start(
  options: Parameters<typeof createApp>[0] extends infer O ? Partial<O>
    : never = {},
): Harness {
  const runner = new BandRunner();
  const served = createApp({
    runner,
    limits: {
      maxBytes: 4096,
      maxPixels: 10_000,
      maxImages: 8,
      maxJsonBytes: 64 * 1024,
    },
    ...options,
  });
  const server = startServer(served, { port: 0 });
  return {
    runner,
    served,
    server,
    url: server.url,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

async function json(response: Response): Promise<Record<string, unknown>> {
  assertMatch(response.headers.get("content-type") ?? "", /application\/json/);
  return await response.json();
}

async function expectError(
  response: Promise<Response>,
  status: number,
  pattern: RegExp,
): Promise<void> {
  const res = await response;
  const body = await json(res);
  assertEquals(res.status, status, `body: ${JSON.stringify(body)}`);
  assertEquals(typeof body.error, "string");
  assertMatch(body.error as string, pattern);
}

function post(
  url: string,
  body: BodyInit | null,
  type?: string,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (type) headers["content-type"] = type;
  return fetch(url, { method: "POST", body, headers });
}

function infer(url: string, body: unknown): Promise<Response> {
  return post(
    `${url}/v2/models/bands/infer`,
    typeof body === "string" ? body : JSON.stringify(body),
    "application/json",
  );
}

Deno.test("POST /v1/predict answers a raw PNG with top-k, heads, model and time", async () => {
  await using h = start();
  const res = await post(
    `${h.url}/v1/predict?top_k=3`,
    greyPng(8, 8, 130),
    "image/png",
  );
  const body = await json(res) as unknown as PredictResponse;
  assertEquals(res.status, 200);
  assertEquals(body.model, "bands:v1");
  assertEquals(body.top.length, 3);
  assertEquals(body.top[0].label, "c2");
  const expected = BandRunner.scores(130);
  assert(Math.abs(body.top[0].probability - expected.mean[2]) < 1e-6);
  assert(body.top[0].probability >= body.top[1].probability);
  assertEquals(body.heads.map((x) => [x.head, x.label]), [["class", "c2"], [
    "distill-1",
    "c3",
  ]]);
  assertEquals(body.image, { format: "png", width: 8, height: 8, channels: 1 });
  assert(body.timeMs >= 0);
});

Deno.test("POST /v1/predict resizes and converts: RGB JPEG of any size, multipart upload", async () => {
  await using h = start();
  const jpeg = encodeJpeg(40, 24, () => 240);
  const res = await post(`${h.url}/v1/predict`, jpeg, "image/jpeg");
  const body = await json(res) as unknown as PredictResponse;
  assertEquals(res.status, 200, JSON.stringify(body));
  assertEquals(body.top[0].label, "c4");
  assertEquals(body.top.length, 5);
  assertEquals(body.image.format, "jpeg");
  assertEquals([body.image.width, body.image.height, body.image.channels], [
    40,
    24,
    3,
  ]);

  const form = new FormData();
  form.append(
    "image",
    new File([greyPng(16, 16, 10)], "dark.png", { type: "image/png" }),
  );
  const multi = await post(`${h.url}/v1/predict`, form);
  const multiBody = await json(multi) as unknown as PredictResponse;
  assertEquals(multi.status, 200, JSON.stringify(multiBody));
  assertEquals(multiBody.top[0].label, "c0");
});

Deno.test("POST /v1/predict/batch answers every file in order", async () => {
  await using h = start();
  const form = new FormData();
  const values = [10, 70, 130, 180, 250];
  values.forEach((v, i) =>
    form.append(
      "images",
      new File([greyPng(8, 8, v)], `img${i}.png`, { type: "image/png" }),
    )
  );
  const res = await post(`${h.url}/v1/predict/batch?top_k=1`, form);
  const body = await json(res) as {
    model: string;
    results: { file: string; top: { label: string }[] }[];
  };
  assertEquals(res.status, 200, JSON.stringify(body));
  assertEquals(
    body.results.map((r) => r.file),
    values.map((_, i) => `img${i}.png`),
  );
  assertEquals(
    body.results.map((r) => r.top[0].label),
    values.map((v) => `c${BandRunner.band(v)}`),
  );
  assertEquals(body.results.every((r) => r.top.length === 1), true);
  // one request's images run together
  assertEquals(h.runner.batchSizes, [5]);
});

Deno.test("image endpoints refuse bad input with a 4xx JSON error naming the problem", async () => {
  await using h = start();
  const url = `${h.url}/v1/predict`;
  const png = greyPng(8, 8, 100);
  await expectError(post(url, null, "image/png"), 400, /empty body/);
  await expectError(
    post(url, new TextEncoder().encode("hello world"), "image/png"),
    400,
    /not a PNG or JPEG/,
  );
  await expectError(
    post(url, png.slice(0, png.length - 20), "image/png"),
    400,
    /corrupt or truncated PNG/,
  );
  await expectError(
    post(url, png.slice(0, 20), "image/png"),
    400,
    /truncated PNG/,
  );
  const jpeg = encodeJpeg(16, 16, () => 50);
  await expectError(
    post(url, jpeg.slice(0, jpeg.length / 2), "image/jpeg"),
    400,
    /JPEG/,
  );
  await expectError(
    post(url, png, "text/plain"),
    415,
    /content type "text\/plain"/,
  );
  await expectError(post(url, png), 415, /content type/);
  await expectError(
    post(url, new Uint8Array(5000), "image/png"),
    413,
    /over the limit of 4096 .*--max-bytes/,
  );
  await expectError(
    post(url, greyPng(200, 200, 0), "image/png"),
    413,
    /200x200 = 40000 pixels, over the limit of 10000/,
  );
  await expectError(post(`${url}?top_k=0`, png, "image/png"), 400, /top_k/);
  const two = new FormData();
  two.append("a", new File([png], "a.png"));
  two.append("b", new File([png], "b.png"));
  await expectError(
    post(url, two),
    400,
    /has 2 files; \/v1\/predict takes exactly 1/,
  );
  await expectError(
    post(url, "--x\r\nbroken", "multipart/form-data"),
    400,
    /malformed multipart/,
  );
  await expectError(
    post(url, "--x\r\nbroken", "multipart/form-data; boundary=x"),
    400,
    /has 0 files/,
  );

  const batch = `${url}/batch`;
  await expectError(post(batch, png, "image/png"), 415, /multipart\/form-data/);
  await expectError(
    post(batch, new FormData()),
    400,
    /no files|malformed multipart/,
  );
  const bad = new FormData();
  bad.append("f", new File([png], "good.png"));
  bad.append("f", new File([new TextEncoder().encode("nope")], "notes.txt"));
  await expectError(post(batch, bad), 400, /notes\.txt: not a PNG or JPEG/);
  const many = new FormData();
  for (let i = 0; i < 9; i++) many.append("f", new File([png], `${i}.png`));
  await expectError(post(batch, many), 413, /9 files, over the limit of 8/);

  // after all that, it still serves
  const ok = await post(url, png, "image/png");
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  assertEquals(h.runner.batchSizes.length, 1);
});

Deno.test("Open Inference Protocol: health, server and model metadata, readiness", async () => {
  await using h = start();
  let res = await fetch(`${h.url}/v2/health/live`);
  assertEquals([res.status, await json(res)], [200, { live: true }]);
  res = await fetch(`${h.url}/v2/health/ready`);
  assertEquals([res.status, await json(res)], [200, { ready: true }]);
  res = await fetch(`${h.url}/v2`);
  assertEquals(await json(res), {
    name: "vitkd-serve",
    version: "0.1.0",
    extensions: ["binary_tensor_data"],
  });
  res = await fetch(`${h.url}/v2/models/bands`);
  assertEquals(await json(res), {
    name: "bands",
    versions: ["v1"],
    platform: "tfjs_layers",
    inputs: [{ name: "image", datatype: "UINT8", shape: [-1, 8, 8, 1] }],
    outputs: [
      { name: "probabilities", datatype: "FP32", shape: [-1, 5] },
      { name: "label", datatype: "BYTES", shape: [-1] },
    ],
  });
  res = await fetch(`${h.url}/v2/models/bands/versions/v1`);
  assertEquals((await json(res)).name, "bands");
  res = await fetch(`${h.url}/v2/models/bands/ready`);
  assertEquals([res.status, await json(res)], [200, {
    name: "bands",
    ready: true,
  }]);
  await expectError(
    fetch(`${h.url}/v2/models/other`),
    404,
    /unknown model 'other': this server serves 'bands'/,
  );
  await expectError(
    fetch(`${h.url}/v2/models/other/ready`),
    404,
    /unknown model 'other'/,
  );
  await expectError(
    fetch(`${h.url}/v2/models/bands/versions/v9`),
    404,
    /unknown version 'v9'/,
  );
  await expectError(
    fetch(`${h.url}/v3/anything`),
    404,
    /no route for GET \/v3\/anything/,
  );
  await expectError(
    fetch(`${h.url}/v1/predict`),
    404,
    /no route for GET \/v1\/predict/,
  );
  const page = await fetch(`${h.url}/`);
  assertEquals(page.status, 200);
  const html = await page.text();
  assertMatch(html, /<input id="file" type="file"/);
  assertMatch(html, /fetch\("\/v1\/predict/);
  assert(
    !/src="http|href="http/.test(html),
    "page must not load external assets",
  );
});

Deno.test("Open Inference Protocol: infer with UINT8 flat and nested data, FP32, id and outputs", async () => {
  await using h = start();
  const image = (v: number) => new Array(64).fill(v);
  let res = await infer(h.url, {
    id: "req-42",
    inputs: [{
      name: "image",
      shape: [2, 8, 8, 1],
      datatype: "UINT8",
      data: [...image(20), ...image(200)],
    }],
  });
  let body = await json(res);
  assertEquals(res.status, 200, JSON.stringify(body));
  assertEquals(body.model_name, "bands");
  assertEquals(body.model_version, "v1");
  assertEquals(body.id, "req-42");
  const outputs = body.outputs as {
    name: string;
    shape: number[];
    datatype: string;
    data: unknown[];
  }[];
  assertEquals(outputs.map((o) => [o.name, o.datatype, o.shape]), [
    ["probabilities", "FP32", [2, 5]],
    ["label", "BYTES", [2]],
  ]);
  assertEquals(outputs[1].data, ["c0", "c3"]);
  const expected = [
    ...BandRunner.scores(20).mean,
    ...BandRunner.scores(200).mean,
  ];
  (outputs[0].data as number[]).forEach((p, i) =>
    assert(Math.abs(p - expected[i]) < 1e-6)
  );

  const nested = Array.from(
    { length: 8 },
    () => Array.from({ length: 8 }, () => [140]),
  );
  res = await infer(h.url, {
    inputs: [{
      name: "image",
      shape: [1, 8, 8, 1],
      datatype: "UINT8",
      data: [nested],
    }],
    outputs: [{ name: "label" }],
  });
  body = await json(res);
  assertEquals(res.status, 200, JSON.stringify(body));
  assertEquals("id" in body, false);
  assertEquals(body.outputs, [{
    name: "label",
    shape: [1],
    datatype: "BYTES",
    data: ["c2"],
  }]);

  // FP32 is the normalised model input: (p / 255 - 0.5) / 0.25
  const normalised = new Array(64).fill((240 / 255 - 0.5) / 0.25);
  res = await infer(h.url, {
    inputs: [{
      name: "image",
      shape: [1, 8, 8, 1],
      datatype: "FP32",
      data: normalised,
    }],
    outputs: [{ name: "label" }],
  });
  assertEquals((await json(res)).outputs, [{
    name: "label",
    shape: [1],
    datatype: "BYTES",
    data: ["c4"],
  }]);
});

Deno.test("Open Inference Protocol: bad requests give 400 with the field named", async () => {
  await using h = start();
  const good = {
    name: "image",
    shape: [1, 8, 8, 1],
    datatype: "UINT8",
    data: new Array(64).fill(1),
  };
  const cases: [unknown, RegExp][] = [
    ["{not json", /malformed JSON/],
    ["[1, 2]", /JSON object with 'inputs'/],
    [{}, /'inputs' must be a non-empty array/],
    [{ inputs: [good, good] }, /has 2 tensors/],
    [{ inputs: [{ ...good, name: "pixels" }] }, /unknown input "pixels"/],
    [
      { inputs: [{ ...good, shape: [1, 8, 8, 3] }] },
      /shape \[1, 8, 8, 3\] does not match the model's \[N, 8, 8, 1\]/,
    ],
    [{ inputs: [{ ...good, shape: [64] }] }, /does not match/],
    [{ inputs: [{ ...good, shape: "1x8x8x1" }] }, /'shape' must be an array/],
    [
      { inputs: [{ ...good, shape: [9, 8, 8, 1] }] },
      /batch size 9 must be between 1 and 8/,
    ],
    [
      { inputs: [{ ...good, datatype: "INT64" }] },
      /datatype "INT64" is not supported/,
    ],
    [
      { inputs: [{ ...good, data: new Array(63).fill(1) }] },
      /'data' has 63 values, shape \[1, 8, 8, 1\] needs 64/,
    ],
    [
      { inputs: [{ ...good, data: [...new Array(63).fill(1), 256] }] },
      /data\[63\] is 256; UINT8 values must be integers 0..255/,
    ],
    [
      { inputs: [{ ...good, data: [...new Array(63).fill(1), "x"] }] },
      /data\[63\] is "x"; expected a finite number/,
    ],
    [
      { inputs: [{ ...good, data: [[[[1]]]] }] },
      /nested data\[0\] has length 1, shape \[1, 8, 8, 1\] expects 8 at depth 1/,
    ],
    [{ inputs: [{ ...good, data: "AAAA" }] }, /'data' must be an array/],
    [
      { inputs: [{ ...good, parameters: { binary_data_size: 64 } }] },
      /binary tensor data extension/,
    ],
    [
      { inputs: [good], outputs: [{ name: "logits" }] },
      /unknown output "logits" at outputs\[0\]/,
    ],
    [{ inputs: [good], id: 7 }, /'id' must be a string/],
  ];
  for (const [body, pattern] of cases) {
    await expectError(infer(h.url, body), 400, pattern);
  }
  await expectError(
    post(
      `${h.url}/v2/models/bands/infer`,
      JSON.stringify({ inputs: [good] }),
      "text/csv",
    ),
    415,
    /application\/json/,
  );
  await expectError(
    post(
      `${h.url}/v2/models/nope/infer`,
      JSON.stringify({ inputs: [good] }),
      "application/json",
    ),
    404,
    /unknown model 'nope'/,
  );
  await expectError(
    infer(
      h.url,
      JSON.stringify({ inputs: [good], pad: "x".repeat(70 * 1024) }),
    ),
    413,
    /over the limit of 65536 bytes \(--max-json-bytes\)/,
  );
  assertEquals(h.runner.batchSizes, []);
  const ok = await infer(h.url, { inputs: [good] });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("parallel requests are all answered correctly and share model calls", async () => {
  // The first model call is held until all 40 requests wait behind it, so
  // the rest must share calls: no timing window decides it.
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let firstBatch = 0;
  await using h = start({
    batching: {
      maxBatch: 16,
      windowMs: 0,
      beforeRun: (count) => {
        if (firstBatch > 0) return;
        firstBatch = count;
        return held;
      },
    },
  });
  const values = Array.from({ length: 40 }, (_, i) => (i * 37) % 256);
  const answers = Promise.all(values.map(async (v) => {
    const res = await post(
      `${h.url}/v1/predict`,
      greyPng(8, 8, v),
      "image/png",
    );
    return (await res.json() as PredictResponse).top[0].label;
  }));
  while (firstBatch === 0 || h.served.batcher.waiting + firstBatch < 40) {
    await new Promise((r) => setTimeout(r, 1));
  }
  release();
  assertEquals(await answers, values.map((v) => `c${BandRunner.band(v)}`));
  const sizes = h.runner.batchSizes;
  assertEquals(sizes.reduce((a, b) => a + b, 0), 40);
  assert(sizes.every((s) => s <= 16), `batches ${sizes}`);
  // the 40 - firstBatch waiting images ran in full batches of 16
  assertEquals(sizes.length, 1 + Math.ceil((40 - firstBatch) / 16));
});

Deno.test("with batching off every request runs alone", async () => {
  await using h = start({ batching: { enabled: false } });
  const values = [5, 60, 120, 190, 250, 33];
  const answers = await Promise.all(values.map(async (v) => {
    const res = await post(
      `${h.url}/v1/predict`,
      greyPng(8, 8, v),
      "image/png",
    );
    return (await res.json() as PredictResponse).top[0].label;
  }));
  assertEquals(answers, values.map((v) => `c${BandRunner.band(v)}`));
  assertEquals(h.runner.batchSizes, [1, 1, 1, 1, 1, 1]);
});

Deno.test("PNG grey and RGB, JPEG: the same picture gives the same class", async () => {
  await using h = start();
  const uploads: [string, Uint8Array<ArrayBuffer>, string, number][] = [
    ["grey PNG", encodePng(8, 8, 1, () => 100), "image/png", 1],
    ["RGB PNG", encodePng(8, 8, 3, () => 100), "image/png", 3],
    ["JPEG", encodeJpeg(8, 8, () => 100), "image/jpeg", 3],
  ];
  for (const [what, bytes, type, channels] of uploads) {
    const res = await post(`${h.url}/v1/predict`, bytes, type);
    const body = await json(res) as unknown as PredictResponse;
    assertEquals(res.status, 200, what);
    assertEquals(body.top[0].label, `c${BandRunner.band(100)}`, what);
    assertEquals(body.image.channels, channels, what);
    assertEquals(body.image.format, type.slice(6), what);
  }
});

Deno.test("health checks are answered while a model call is in flight", async () => {
  // The batcher yielding between synchronous model calls is checked in
  // batcher_test.ts; here a model call is held open, without timing.
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let calls = 0;
  await using h = start({
    batching: {
      maxBatch: 1,
      windowMs: 0,
      beforeRun: () => calls++ === 0 ? held : undefined,
    },
  });
  const work = Array.from(
    { length: 4 },
    (_, i) =>
      post(`${h.url}/v1/predict`, greyPng(8, 8, i * 60), "image/png").then((
        r,
      ) => r.json()),
  );
  while (calls === 0) await new Promise((r) => setTimeout(r, 1));
  const live = await fetch(`${h.url}/v2/health/live`);
  assertEquals(await live.json(), { live: true });
  const ready = await fetch(`${h.url}/v2/health/ready`);
  assertEquals(await ready.json(), { ready: true });
  assertEquals(h.served.batcher.stats.batches, 0, "the model call is held");
  release();
  await Promise.all(work);
  assertEquals(h.served.batcher.stats.batches, 4);
});

Deno.test("shutdown: readiness turns false, queued predictions still finish", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let calls = 0;
  const h = start({
    batching: {
      maxBatch: 2,
      windowMs: 0,
      beforeRun: () => calls++ === 0 ? held : undefined,
    },
  });
  const pending = post(`${h.url}/v1/predict`, greyPng(8, 8, 250), "image/png");
  // the request's model call is held: start the shutdown while it waits
  while (calls === 0) await new Promise((r) => setTimeout(r, 1));
  const stopping = h.server.shutdown();
  assertEquals(h.served.ready, false);
  // new connections are refused now; ask the app itself
  const ready = await h.served.app.request("/v2/health/ready");
  assertEquals([ready.status, await ready.json()], [503, { ready: false }]);
  assertEquals(ready.headers.get("retry-after"), "1");
  release();
  const res = await pending;
  assertEquals(res.status, 200);
  assertEquals((await res.json() as PredictResponse).top[0].label, "c4");
  await stopping;
  await h.server.finished;
});
