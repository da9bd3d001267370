import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { BatcherClosedError, MicroBatcher, QueueFullError } from "./batcher.ts";
import type { ModelInput, ModelOutput } from "./runner.ts";
import { BandRunner } from "./testing.ts";

function image(value: number): ModelInput {
  return { dtype: "uint8", data: new Uint8Array(64).fill(value), count: 1 };
}

function images(values: number[]): ModelInput {
  const data = new Uint8Array(64 * values.length);
  values.forEach((v, i) => data.fill(v, i * 64, (i + 1) * 64));
  return { dtype: "uint8", data, count: values.length };
}

function bandOf(result: { probabilities: Float32Array }): number {
  return result.probabilities.indexOf(Math.max(...result.probabilities));
}

Deno.test("MicroBatcher merges concurrent requests into bounded batches, answers in order", async () => {
  const runner = new BandRunner();
  const batcher = new MicroBatcher(runner, {
    maxBatch: 4,
    windowMs: 5,
    enabled: true,
    maxQueue: 100,
  });
  const values = [10, 60, 110, 160, 210, 250, 30, 90, 140, 200];
  const results = await Promise.all(
    values.map((v) => batcher.submit(image(v))),
  );
  assertEquals(results.map((r) => bandOf(r[0])), values.map(BandRunner.band));
  assertEquals(runner.batchSizes, [4, 4, 2]);
  assertEquals(batcher.stats, { batches: 3, images: 10, largestBatch: 4 });
  assertEquals(batcher.waiting, 0);
});

Deno.test("MicroBatcher with batching off keeps requests apart but a request's images together", async () => {
  const runner = new BandRunner();
  const batcher = new MicroBatcher(runner, {
    maxBatch: 4,
    windowMs: 5,
    enabled: false,
    maxQueue: 100,
  });
  const [a, b, c] = await Promise.all([
    batcher.submit(images([10, 250, 130])),
    batcher.submit(image(70)),
    batcher.submit(images([1, 2, 3, 4, 5, 6])),
  ]);
  assertEquals(a.map(bandOf), [0, 4, 2]);
  assertEquals(b.map(bandOf), [1]);
  assertEquals(c.length, 6);
  assertEquals(runner.batchSizes, [3, 1, 4, 2]);
});

Deno.test("MicroBatcher never mixes uint8 and float32 inputs in one model call", async () => {
  const runner = new BandRunner();
  const batcher = new MicroBatcher(runner, {
    maxBatch: 8,
    windowMs: 5,
    enabled: true,
    maxQueue: 100,
  });
  const float: ModelInput = {
    dtype: "float32",
    data: new Float32Array(64).fill(1.5),
    count: 1,
  };
  const [x, y, z] = await Promise.all([
    batcher.submit(image(10)),
    batcher.submit(float),
    batcher.submit(image(250)),
  ]);
  assertEquals([bandOf(x[0]), bandOf(y[0]), bandOf(z[0])], [0, 4, 4]);
  assertEquals(runner.batchSizes, [2, 1]);
});

Deno.test("MicroBatcher yields to the event loop between batches", async () => {
  const log: string[] = [];
  const runner = new BandRunner();
  const predict = runner.predict.bind(runner);
  runner.predict = (input: ModelInput): Promise<ModelOutput> => {
    log.push(`batch ${input.count}`);
    // a timer set during a batch must fire before the next batch starts
    setTimeout(() => log.push("timer"), 0);
    return predict(input);
  };
  const batcher = new MicroBatcher(runner, {
    maxBatch: 2,
    windowMs: 0,
    enabled: true,
    maxQueue: 100,
  });
  await Promise.all([1, 2, 3, 4, 5, 6].map((v) => batcher.submit(image(v))));
  // the answers of the last batch go out before its timer fires
  assertEquals(log.slice(0, 5), [
    "batch 2",
    "timer",
    "batch 2",
    "timer",
    "batch 2",
  ]);
});

Deno.test("MicroBatcher refuses work over the queue limit and after close; close drains", async () => {
  const runner = new BandRunner();
  const batcher = new MicroBatcher(runner, {
    maxBatch: 2,
    windowMs: 50,
    enabled: true,
    maxQueue: 3,
  });
  const first = batcher.submit(images([1, 2]));
  await assertRejects(
    () => batcher.submit(images([3, 4])),
    QueueFullError,
    "2 images already waiting (limit 3)",
  );
  const closing = batcher.close();
  await assertRejects(() => batcher.submit(image(5)), BatcherClosedError);
  await closing;
  assertEquals((await first).length, 2);
  assertEquals(runner.batchSizes, [2]);
});

Deno.test("MicroBatcher passes model errors to the requests of that batch only", async () => {
  const runner = new BandRunner();
  const predict = runner.predict.bind(runner);
  let calls = 0;
  runner.predict = (input: ModelInput): Promise<ModelOutput> => {
    if (calls++ === 0) return Promise.reject(new Error("backend lost"));
    return predict(input);
  };
  const batcher = new MicroBatcher(runner, {
    maxBatch: 1,
    windowMs: 0,
    enabled: true,
    maxQueue: 10,
  });
  const failed = batcher.submit(image(1));
  const fine = batcher.submit(image(250));
  await assertRejects(() => failed, Error, "backend lost");
  assertEquals(bandOf((await fine)[0]), 4);
});

Deno.test("MicroBatcher checks its options and input sizes", async () => {
  const runner = new BandRunner();
  const ok = { maxBatch: 2, windowMs: 1, enabled: true, maxQueue: 4 };
  assertThrows(
    () => new MicroBatcher(runner, { ...ok, maxBatch: 0 }),
    RangeError,
    "maxBatch",
  );
  assertThrows(
    () => new MicroBatcher(runner, { ...ok, windowMs: -1 }),
    RangeError,
    "windowMs",
  );
  assertThrows(
    () => new MicroBatcher(runner, { ...ok, maxQueue: 0 }),
    RangeError,
    "maxQueue",
  );
  const batcher = new MicroBatcher(runner, ok);
  const error = await assertRejects(
    () =>
      batcher.submit({ dtype: "uint8", data: new Uint8Array(10), count: 1 }),
    RangeError,
  );
  assert(error.message.includes("expected 64"));
});
