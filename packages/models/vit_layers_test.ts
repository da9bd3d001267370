import * as tf from "@tensorflow/tfjs";
import { assert, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { Gelu, MultiHeadSelfAttention, PatchEmbedding } from "./vit_layers.ts";

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`PatchEmbedding equals a stride-P conv2d, values and kernel gradient (${backend})`, async () => {
    await initBackend({ backend });
    const x = tf.randomNormal([2, 8, 12, 3], 0, 1, "float32", 1);
    const ours = new PatchEmbedding({ filters: 5, patchSize: 4 });
    const conv = tf.layers.conv2d({
      filters: 5,
      kernelSize: 4,
      strides: 4,
      padding: "valid",
    });
    ours.apply(x);
    conv.apply(x);
    const bias = tf.randomNormal([5], 0, 1, "float32", 2);
    ours.setWeights([ours.getWeights()[0], bias]);
    conv.setWeights(ours.getWeights());
    const probe = tf.randomNormal([2, 2, 3, 5], 0, 1, "float32", 3);
    const kernelGrad = (layer: tf.layers.Layer) => {
      const kernel = layer.trainableWeights[0].read() as tf.Variable;
      return tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, probe)) as tf.Scalar,
        [kernel],
      ).grads[kernel.name];
    };
    assert(
      maxDifference(ours.apply(x) as tf.Tensor, conv.apply(x) as tf.Tensor) <
        1e-5,
    );
    const d = maxDifference(kernelGrad(ours), kernelGrad(conv));
    assert(d < 1e-4, `kernel gradients differ by ${d}`);
    assert(ours.flopsPerImage([8, 12, 3]) === 2 * 2 * 3 * 5 * 4 * 4 * 3);
    assertThrows(
      () => new PatchEmbedding({ filters: 5, patchSize: 3 }).apply(x),
      Error,
      "divisible by patchSize 3",
    );
    tf.dispose([x, bias, probe]);
  });

  Deno.test(`Gelu equals the tf.layers "gelu" activation (${backend})`, async () => {
    await initBackend({ backend });
    const x = tf.randomNormal([3, 4, 6], 0, 3, "float32", 4);
    const ours = new Gelu().apply(x) as tf.Tensor;
    const keras = tf.layers.activation({ activation: "gelu" }).apply(
      x,
    ) as tf.Tensor;
    assert(maxDifference(ours, keras) < 1e-6);
    tf.dispose([x, ours, keras]);
  });
}

Deno.test("MultiHeadSelfAttention: fused wasm path equals the cpu path, values and gradients", async () => {
  const run = async (backend: "cpu" | "wasm") => {
    await initBackend({ backend });
    return tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 12], 0, 1, "float32", 5);
      const layer = new MultiHeadSelfAttention({ numHeads: 3, seed: 7 });
      layer.apply(x);
      const probe = tf.randomNormal([2, 5, 12], 0, 1, "float32", 6);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, probe)) as tf.Scalar,
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      const dx = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(layer.apply(input) as tf.Tensor, probe))
      )(x);
      return [value, layer.apply(x) as tf.Tensor, dx, ...Object.values(grads)]
        .map((t) => t.arraySync());
    });
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  assert(cpu.length === wasm.length && cpu.length === 7);
  cpu.forEach((want, i) => {
    const d = maxDifference(
      tf.tensor(wasm[i] as number[]),
      tf.tensor(want as number[]),
    );
    assert(d < 1e-4, `output ${i} differs by ${d}`);
  });
});
