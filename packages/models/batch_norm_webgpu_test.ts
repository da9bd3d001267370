// The fused training batch norm on WebGPU (two dispatches each way) against
// the composed one on cpu: values, statistics and gradients, with and
// without the fused relu. Here the adapter is usually llvmpipe (software).
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { countWebGpuWork, initBackend } from "@vitkd/backend";
import { BatchNorm, batchNormTraining } from "./batch_norm.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

/** y, mean, variance and the gradients of sum(y · w) for x, gamma, beta. */
function compute(relu: boolean): tf.Tensor[] {
  const x = tf.randomNormal([3, 5, 4, 6], 0.5, 2, "float32", 3);
  const gamma = tf.randomNormal([6], 1, 0.3, "float32", 4);
  const beta = tf.randomNormal([6], 0, 0.3, "float32", 5);
  const weights = tf.randomNormal([3, 5, 4, 6], 0, 1, "float32", 6);
  const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(batchNormTraining(a, g, b, 1e-3, relu).y, weights));
  const grads = tf.grads(f)([x, gamma, beta]);
  const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-3, relu);
  return [y, mean, variance, ...grads];
}

async function on(backend: "cpu" | "webgpu", relu: boolean) {
  await initBackend({ backend });
  const outputs = tf.tidy(() => compute(relu));
  const values = await Promise.all(outputs.map((t) => t.data()));
  tf.dispose(outputs);
  return values as Float32Array[];
}

for (const relu of [false, true]) {
  Deno.test({
    name: `batch norm training on webgpu${
      relu ? " with relu" : ""
    }: values, statistics and gradients equal cpu`,
    ignore,
    fn: async () => {
      const expected = await on("cpu", relu);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        on("webgpu", relu)
      );
      const names = ["y", "mean", "variance", "dx", "dgamma", "dbeta"];
      expected.forEach((want, k) => {
        let scale = 1e-3;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        want.forEach((w, i) =>
          assert(
            Math.abs(actual[k][i] - w) <= 2e-5 * scale,
            `${names[k]}[${i}]: webgpu ${actual[k][i]}, cpu ${w}`,
          )
        );
      });
      // forward twice (under the gradient and alone), backward once
      assertEquals(work.byKernel["VitkdBatchNormStats"], 2);
      assertEquals(work.byKernel["VitkdBatchNormGradSums"], 1);
      await initBackend({ backend: "cpu" });
    },
  });
}

Deno.test({
  name:
    "BatchNorm on webgpu: moving statistics updated in place in the statistics dispatch, equal to cpu",
  ignore,
  fn: async () => {
    const run = async (backend: "cpu" | "webgpu") => {
      await initBackend({ backend });
      const layer = new BatchNorm({ momentum: 0.9 });
      const x = tf.randomNormal([4, 3, 3, 5], 2, 3, "float32", 5);
      for (let i = 0; i < 3; i++) {
        tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
      }
      const weights = layer.getWeights();
      const values = await Promise.all(weights.map((w) => w.data()));
      tf.dispose([x, ...weights]);
      return values as Float32Array[];
    };
    const expected = await run("cpu");
    await initBackend({ backend: "webgpu" });
    const { result: actual, work } = await countWebGpuWork(() => run("webgpu"));
    expected.forEach((want, k) =>
      want.forEach((w, i) =>
        assert(
          Math.abs(actual[k][i] - w) <= 1e-5 * Math.max(1, Math.abs(w)),
          `weight ${k}[${i}]: webgpu ${actual[k][i]}, cpu ${w}`,
        )
      )
    );
    // the moving statistics move in the batch statistics' dispatch
    assertEquals(work.byKernel["VitkdBatchNormStats"], 3);
    assertEquals(work.byKernel["VitkdMovingAverages"] ?? 0, 0);
    await initBackend({ backend: "cpu" });
  },
});
