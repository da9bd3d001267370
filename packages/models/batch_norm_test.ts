import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { BatchNorm, batchNormTraining } from "./batch_norm.ts";

await initBackend({ backend: "cpu" });

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("batchNormTraining: values and gradients equal tfjs's autodiff of moments + batchNorm", () => {
  for (const shape of [[6, 5], [3, 4, 5, 7]]) {
    const channels = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 1, 2, "float32", 1);
    const gamma = tf.randomNormal([channels], 1, 0.5, "float32", 2);
    const beta = tf.randomNormal([channels], 0, 0.5, "float32", 3);
    const probe = tf.randomNormal(shape, 0, 1, "float32", 4);
    const axes = shape.slice(0, -1).map((_, i) => i);
    const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, axes);
      return tf.batchNorm(a, mean, variance, b, g, 1e-3);
    };
    const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      batchNormTraining(a, g, b, 1e-3).y;
    const lossOf =
      (f: typeof ours) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(f(a, g, b), probe));
    assert(
      maxDifference(ours(x, gamma, beta), reference(x, gamma, beta)) < 1e-5,
      "values",
    );
    const want = tf.grads(lossOf(reference))([x, gamma, beta]);
    const got = tf.grads(lossOf(ours))([x, gamma, beta]);
    ["x", "gamma", "beta"].forEach((name, i) => {
      const d = maxDifference(got[i], want[i]);
      assert(d < 1e-4, `d/d${name} of shape [${shape}] differs by ${d}`);
    });
    tf.dispose([x, gamma, beta, probe, ...want, ...got]);
  }
});

Deno.test("BatchNorm matches tf.layers.batchNormalization in both modes, moving statistics included", () => {
  const x = tf.randomNormal([4, 3, 3, 5], 2, 3, "float32", 5);
  const ours = new BatchNorm({ momentum: 0.9 });
  const keras = tf.layers.batchNormalization({ momentum: 0.9 });
  for (const training of [true, true, false]) {
    const a = ours.apply(x, { training }) as tf.Tensor;
    const b = keras.apply(x, { training }) as tf.Tensor;
    assert(maxDifference(a, b) < 1e-4, `training=${training}`);
    tf.dispose([a, b]);
  }
  const oursWeights = ours.getWeights(), kerasWeights = keras.getWeights();
  assertEquals(oursWeights.length, 4);
  oursWeights.forEach((w, i) =>
    assert(maxDifference(w, kerasWeights[i]) < 1e-5, `weight ${i}`)
  );
  x.dispose();
});
