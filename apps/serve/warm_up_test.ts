import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { createApp } from "./app.ts";
import { BandRunner } from "./testing.ts";
import { warmUpRequests } from "./warm_up.ts";

Deno.test("warmUpRequests runs the predictions through the app, in batches, then zeroes the counters", async () => {
  const runner = new BandRunner();
  const served = createApp({
    runner,
    batching: { maxBatch: 8, windowMs: 2 },
  });
  try {
    await warmUpRequests(served, 40, 16);
    const images = runner.batchSizes.reduce((a, b) => a + b, 0);
    assertEquals(images, 40);
    // concurrent requests shared model calls
    assertEquals(Math.max(...runner.batchSizes) > 1, true);
    assertEquals(served.batcher.stats, {
      batches: 0,
      images: 0,
      largestBatch: 0,
    });
    assertEquals(served.decoder.stats.decoded, 0);
    const metrics = served.metrics.render();
    assertEquals(/^vitkd_http_requests_total/m.test(metrics), false);
    assertMatch(metrics, /^vitkd_batch_size_count 0$/m);
    // the counters count again afterwards
    const res = await served.app.fetch(new Request("http://x/metrics"));
    await res.text();
    assertMatch(
      served.metrics.render(),
      /^vitkd_http_requests_total\{method="GET",route="\/metrics",status="200"\} 1$/m,
    );
  } finally {
    await served.drain();
  }
});

Deno.test("warmUpRequests fails the start, naming the status, when the model cannot answer", async () => {
  const runner = new BandRunner();
  runner.predict = () => Promise.reject(new Error("weights gone"));
  const served = createApp({ runner });
  try {
    await assertRejects(
      () => warmUpRequests(served, 5, 2),
      Error,
      "warm-up prediction failed: 500",
    );
  } finally {
    await served.drain();
  }
});

Deno.test("warmUpRequests stops sending at its time limit", async () => {
  const runner = new BandRunner();
  const served = createApp({ runner });
  let clock = 0;
  try {
    // each look at the clock is 1 ms later: the deadline is read at 0, then
    // the sends at 1..9 ms are inside 10 ms
    const sent = await warmUpRequests(served, 1000, 1, {
      maxMs: 10,
      now: () => clock++,
    });
    assertEquals(sent, 9);
    assertEquals(runner.batchSizes.reduce((a, b) => a + b, 0), 9);
  } finally {
    await served.drain();
  }
});

Deno.test("warmUpRequests with 0 requests sends none", async () => {
  const runner = new BandRunner();
  const served = createApp({ runner });
  try {
    await warmUpRequests(served, 0, 8);
    assertEquals(runner.batchSizes, []);
  } finally {
    await served.drain();
  }
});
