import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals } from "@std/assert";
import { registerReductionGradients } from "./reduction_gradients.ts";

// The kernels one gradient of `f` at `x` runs.
async function gradientKernels(
  f: (x: tf.Tensor) => tf.Scalar,
  x: tf.Tensor,
): Promise<{ kernels: string[]; gradient: number[] }> {
  let gradient: tf.Tensor | undefined;
  const info = await tf.profile(() => {
    gradient = tf.grad(f)(x);
  });
  const values = Array.from(await gradient!.data());
  gradient!.dispose();
  return { kernels: info.kernelNames, gradient: values };
}

Deno.test("Mean and Sum gradients: tfjs's values, and no Tile off WebGPU (Tile is a scalar loop on wasm)", async () => {
  await tf.setBackend("cpu");
  registerReductionGradients();
  const x = tf.tensor4d(Array.from({ length: 24 }, (_, i) => i), [2, 2, 3, 2]);
  const mean = await gradientKernels((t) => tf.mean(t, [1, 2]).sum(), x);
  assertEquals(mean.kernels.includes("Tile"), false, mean.kernels.join(", "));
  for (const g of mean.gradient) assertAlmostEquals(g, 1 / 6, 1e-7);
  const sum = await gradientKernels((t) => tf.sum(t, 0).mean(), x);
  assertEquals(sum.kernels.includes("Tile"), false, sum.kernels.join(", "));
  for (const g of sum.gradient) assertAlmostEquals(g, 1 / 12, 1e-7);
  x.dispose();
});
