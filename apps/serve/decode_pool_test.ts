import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { DataError } from "@vitkd/data";
import { createApp } from "./app.ts";
import { DecodePool, DecoderBusyError } from "./decode_pool.ts";
import { httpAnswerOf } from "./error_status.ts";
import type { PredictResponse } from "./routes_v1.ts";
import { startServer } from "./server.ts";
import { BandRunner, bigGreyPng, encodeJpeg, greyPng } from "./testing.ts";

const TARGET = { height: 8, width: 8, channels: 1 };

async function until(condition: () => boolean, what: string): Promise<void> {
  // Polls on timers: it only progresses while the event loop is free.
  for (let i = 0; i < 20_000 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (!condition()) throw new Error(`gave up waiting for ${what}`);
}

Deno.test("DecodePool decodes and resizes in a worker, and refuses corrupt data with a 400", async () => {
  const pool = new DecodePool({ workers: 1, maxQueue: 4 });
  try {
    const prepared = await pool.decode(greyPng(16, 16, 200), TARGET, "a.png");
    assertEquals(prepared.pixels.length, 64);
    assert(prepared.pixels.every((p) => p === 200));
    assertEquals(prepared.original, {
      format: "png",
      width: 16,
      height: 16,
      channels: 1,
    });
    const jpeg = encodeJpeg(20, 12, () => 90);
    const cut = jpeg.slice(0, jpeg.length - 40);
    const error = await assertRejects(
      () => pool.decode(cut, TARGET, "cut.jpg"),
      DataError,
    );
    assertEquals(httpAnswerOf(error).status, 400);
    assertMatch(error.message, /cut\.jpg: corrupt or truncated JPEG/);
    // the worker is still there for the next upload
    const again = await pool.decode(greyPng(8, 8, 3), TARGET, "b.png");
    assertEquals(again.pixels[0], 3);
    assertEquals(pool.stats.decoded, 2);
    assertEquals(pool.stats.failed, 1);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool stops an idle worker and starts one again on demand", async () => {
  const pool = new DecodePool({ workers: 1, maxQueue: 1, idleMs: 10 });
  try {
    assertEquals(pool.stats.alive, 0, "workers start on first use");
    await pool.decode(greyPng(100, 100, 7), TARGET, "a.png");
    await until(() => pool.stats.alive === 0, "the idle worker to stop");
    const again = await pool.decode(greyPng(100, 100, 9), TARGET, "b.png");
    assertEquals(again.pixels[0], 9);
    assertEquals(pool.stats.alive, 1);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool stops a worker after a large image or a failure, and the queue goes on", async () => {
  const pool = new DecodePool({
    workers: 1,
    maxQueue: 4,
    recyclePixels: 50 * 50,
  });
  try {
    const small = pool.decode(greyPng(40, 40, 1), TARGET, "small.png");
    const large = pool.decode(greyPng(60, 60, 2), TARGET, "large.png");
    const bad = pool.decode(greyPng(40, 40, 3).slice(0, 60), TARGET, "bad.png");
    const after = pool.decode(greyPng(40, 40, 4), TARGET, "after.png");
    assertEquals((await small).pixels[0], 1);
    assertEquals((await large).pixels[0], 2);
    await assertRejects(() => bad, DataError, "bad.png");
    assertEquals((await after).pixels[0], 4);
    assertEquals(pool.stats.recycled, 2);
    assertEquals(pool.stats.alive, 1);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool is bounded: beyond its workers and queue it refuses", async () => {
  const pool = new DecodePool({ workers: 1, maxQueue: 1 });
  try {
    const big = await bigGreyPng(2000, 2000, 10);
    const first = pool.decode(big.slice(), TARGET, "1");
    const second = pool.decode(big.slice(), TARGET, "2");
    assertEquals([pool.stats.busy, pool.stats.queued], [1, 1]);
    await assertRejects(
      () => pool.decode(big.slice(), TARGET, "3"),
      DecoderBusyError,
      "images already waiting to be decoded (limit 1)",
    );
    assertEquals((await first).pixels[0], 10);
    assertEquals((await second).pixels[0], 10);
  } finally {
    pool.close();
  }
});

Deno.test("the event loop stays free while the largest allowed image decodes: health answers meanwhile", async () => {
  const runner = new BandRunner();
  const served = createApp({ runner, decoding: { workers: 1 } });
  const server = startServer(served, { port: 0 });
  try {
    const side = 4000; // 16,000,000 pixels: the default --max-pixels
    assertEquals(side * side, 16_000_000);
    const png = await bigGreyPng(side, side, 130);
    const predict = fetch(`${server.url}/v1/predict`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: png,
    });
    await until(() => served.decoder.stats.busy === 1, "the decode to start");
    const started = performance.now();
    const live = await fetch(`${server.url}/v2/health/live`);
    const liveMs = performance.now() - started;
    // Still decoding when liveness answered: the two ran side by side.
    const busyAfterLive = served.decoder.stats.busy;
    assertEquals(await live.json(), { live: true });
    const res = await predict;
    const body = await res.json() as PredictResponse;
    assertEquals(res.status, 200, JSON.stringify(body));
    assertEquals(body.image, {
      format: "png",
      width: side,
      height: side,
      channels: 1,
    });
    assertEquals(body.top[0].label, `c${BandRunner.band(130)}`);
    assertEquals(busyAfterLive, 1, "liveness waited for the decode");
    console.log(`  /v2/health/live answered in ${liveMs.toFixed(1)} ms`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("DecodePool.warm starts every worker and decodes the blank PNG once on each", async () => {
  const pool = new DecodePool({ workers: 2, maxQueue: 0 });
  try {
    assertEquals(pool.stats.alive, 0);
    await pool.warm({ height: 4, width: 4, channels: 3 });
    assertEquals(pool.stats.alive, 2);
    assertEquals(pool.stats.decoded, 2);
    assertEquals(pool.stats.failed, 0);
  } finally {
    pool.close();
  }
});
