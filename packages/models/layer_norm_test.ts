import * as tf from "@tensorflow/tfjs";
import { assert } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { LayerNorm, layerNorm } from "./layer_norm.ts";

await initBackend({ backend: "cpu" });

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("layerNorm: values and gradients equal tfjs autodiff of the plain formula", () => {
  for (const shape of [[5, 6], [2, 7, 8]]) {
    const width = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 1, 2, "float32", 1);
    const gamma = tf.randomNormal([width], 1, 0.5, "float32", 2);
    const beta = tf.randomNormal([width], 0, 0.5, "float32", 3);
    const probe = tf.randomNormal(shape, 0, 1, "float32", 4);
    const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, -1, true);
      return tf.add(
        tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-6))), g),
        b,
      );
    };
    const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      layerNorm(a, g, b, 1e-6);
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

Deno.test("LayerNorm matches tf.layers.layerNormalization", () => {
  const x = tf.randomNormal([3, 4, 6], 2, 3, "float32", 5);
  const ours = new LayerNorm({ epsilon: 1e-6 });
  const keras = tf.layers.layerNormalization({ epsilon: 1e-6 });
  const a = ours.apply(x) as tf.Tensor;
  const b = keras.apply(x) as tf.Tensor;
  assert(maxDifference(a, b) < 1e-4);
  assert(ours.countParams() === keras.countParams());
  tf.dispose([x, a, b]);
});
