import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { decodeOutcomes, encodeOutcomes, predictOutcomes } from "./outcomes.ts";

await initBackend({ backend: "cpu" });

Deno.test("outcomes survive encoding, whatever their count", () => {
  for (const count of [0, 1, 7, 8, 9, 10000]) {
    const outcomes = Uint8Array.from(
      { length: count },
      (_, i) => (i * 7919) % 3 === 0 ? 1 : 0,
    );
    const text = encodeOutcomes(outcomes);
    assertEquals(decodeOutcomes(text), outcomes);
  }
  assertEquals(encodeOutcomes([1, 0, 1]), "3:BQ==");
  assertThrows(() => decodeOutcomes("9:BQ=="), Error, "do not hold");
  assertThrows(() => decodeOutcomes("BQ=="), Error, "expected");
});

Deno.test("predictOutcomes marks the images the averaged heads get right", async () => {
  // two heads: the first says class 0 (strongly), the second class 1 (weakly)
  const input = tf.input({ shape: [1, 1, 1] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const dense = (bias: number[]) =>
    tf.layers.dense({
      units: 2,
      kernelInitializer: "zeros",
      biasInitializer: tf.initializers.constant({ value: 0 }),
      weights: [tf.zeros([1, 2]), tf.tensor1d(bias)],
    }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({
    inputs: input,
    outputs: [dense([4, 0]), dense([0, 1])],
  });
  const dataset = {
    name: "toy",
    images: new Uint8Array(3),
    labels: Int32Array.from([0, 1, 0]),
    count: 3,
    height: 1,
    width: 1,
    channels: 1,
    classNames: ["a", "b"],
    fingerprint: "toy",
  };
  const before = tf.memory().numTensors;
  const outcomes = await predictOutcomes(model, dataset, {
    mean: [0],
    std: [1],
  }, 2);
  assertEquals([...outcomes], [1, 0, 1]);
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});
