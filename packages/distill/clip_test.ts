import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { clipByGlobalNorm } from "./clip.ts";

await initBackend({ backend: "cpu" });

Deno.test("clipByGlobalNorm rescales all gradients by maxNorm / globalNorm", async () => {
  // global norm of [3, 4] and [12] is 13
  const grads = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
  const clipped = clipByGlobalNorm(grads, 6.5);
  assertAlmostEquals((await clipped.globalNorm.data())[0], 13, 1e-5);
  clipped.globalNorm.dispose();
  assertEquals(Array.from(clipped.gradients.a.dataSync()), [1.5, 2]);
  assertEquals(Array.from(clipped.gradients.b.dataSync()), [6]);
  assertEquals(clipped.gradients.b.shape, [1, 1]);
  tf.dispose(clipped.gradients);
  // below the limit: unchanged
  const loose = clipByGlobalNorm(grads, 100);
  assertEquals(Array.from(loose.gradients.a.dataSync()), [3, 4]);
  tf.dispose([loose.gradients.a, loose.globalNorm]);
  tf.dispose(grads);
});

Deno.test("clipByGlobalNorm rejects a bad limit", () => {
  const grads = { a: tf.tensor1d([3, 1]) };
  assertThrows(() => clipByGlobalNorm(grads, 0), Error, "maxNorm");
  assertThrows(() => clipByGlobalNorm(grads, -1), Error, "maxNorm");
  tf.dispose(grads);
});

Deno.test("clipByGlobalNorm passes a diverged norm on without reading it", async () => {
  const grads = { a: tf.tensor1d([NaN, 1]) };
  const clipped = clipByGlobalNorm(grads, 1);
  assert(Number.isNaN((await clipped.globalNorm.data())[0]));
  assert(Number.isNaN((await clipped.gradients.a.data())[1]));
  tf.dispose([grads.a, clipped.gradients.a, clipped.globalNorm]);
});
