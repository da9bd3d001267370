// The training BatchNorm on wasm, where the batch norm kernel moves the
// moving statistics in place (unless another tensor shares their buffers).
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { BatchNorm } from "./batch_norm.ts";

await initBackend({ backend: "wasm" });

Deno.test("BatchNorm on wasm: the kernel moves the moving statistics in place, to the values of the separate update", async () => {
  const run = async (shared: boolean) => {
    const layer = new BatchNorm({ momentum: 0.9, activation: "relu" });
    const x = tf.randomNormal([4, 3, 3, 16], 2, 3, "float32", 5);
    const moving = () =>
      layer.weights.filter((w) => w.name.includes("moving")).map((w) =>
        w.read()
      );
    const steps = () =>
      tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
    steps();
    const buffers = moving().map((t) => t.dataId);
    // a clone shares the buffer: the kernel must not write it then
    const held: tf.Tensor[] = [];
    for (let i = 0; i < 3; i++) {
      if (shared) held.push(...moving().map((t) => tf.clone(t)));
      steps();
    }
    const inPlace = moving().every((t, k) => t.dataId === buffers[k]);
    const values = await Promise.all(moving().map((t) => t.data()));
    const clones = await Promise.all(held.slice(0, 2).map((t) => t.data()));
    tf.dispose([x, ...held]);
    layer.dispose();
    return { inPlace, values, clones };
  };
  const own = await run(false);
  const shared = await run(true);
  assert(own.inPlace, "the moving statistics got new buffers");
  assert(!shared.inPlace, "shared buffers were written in place");
  assertEquals(own.values, shared.values);
  // the clones kept the values they were taken with (after one step)
  assertNotEquals(shared.clones[0], own.values[0]);
  assertEquals(tf.memory().numTensors, 0);
});
