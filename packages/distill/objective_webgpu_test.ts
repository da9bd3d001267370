// The fused objective on WebGPU against the composed one on cpu: loss,
// correct rows and the heads' gradients.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { countWebGpuWork, initBackend } from "@vitkd/backend";
import type { LossConfig } from "./loss.ts";
import { lossAndCorrect } from "./step.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

const CASES: { name: string; heads: number; loss: LossConfig }[] = [
  {
    name: "none, one head, label smoothing",
    heads: 1,
    loss: { kind: "none", labelSmoothing: 0.1 },
  },
  { name: "multi, two teachers", heads: 3, loss: { kind: "multi" } },
  {
    name: "multi, tau 2, weights, deit reduction",
    heads: 3,
    loss: {
      kind: "multi",
      tau: 2,
      classWeight: 0.7,
      distillWeights: [1.5, 0.5],
      labelSmoothing: 0.05,
      reduction: "deit",
    },
  },
  { name: "multi, one teacher", heads: 2, loss: { kind: "multi", tau: 3 } },
];

async function compute(backend: "cpu" | "webgpu", c: (typeof CASES)[number]) {
  await initBackend({ backend });
  const outs = tf.tidy(() => {
    const heads = Array.from(
      { length: c.heads },
      (_, i) =>
        tf.randomNormal([37, 10], 0, 3, "float32", 10 + i) as tf.Tensor2D,
    );
    const teachers = Array.from(
      { length: c.heads - 1 },
      (_, i) =>
        tf.randomNormal([37, 10], 0, 3, "float32", 20 + i) as tf.Tensor2D,
    );
    const labels = tf.tensor1d(
      Array.from({ length: 37 }, (_, i) => (i * 7) % 10),
      "int32",
    );
    const f = (...hs: tf.Tensor[]) =>
      lossAndCorrect(hs as tf.Tensor2D[], labels, teachers, c.loss).loss;
    const grads = tf.grads(f)(heads);
    const value = f(...heads);
    const { correct } = lossAndCorrect(heads, labels, teachers, c.loss);
    return [value, tf.cast(correct, "float32"), ...grads];
  });
  const values = await Promise.all(outs.map((t) => t.data()));
  tf.dispose(outs);
  return values as Float32Array[];
}

for (const c of CASES) {
  Deno.test({
    name:
      `fused objective on webgpu (${c.name}) equals the composed one on cpu`,
    ignore,
    fn: async () => {
      const expected = await compute("cpu", c);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        compute("webgpu", c)
      );
      expected.forEach((want, k) => {
        let scale = 1e-3;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        want.forEach((w, i) =>
          assert(
            Math.abs(actual[k][i] - w) <= 2e-5 * scale,
            `${c.name}: output ${k}[${i}] webgpu ${actual[k][i]}, cpu ${w}`,
          )
        );
      });
      // forward under the gradient, for the value and for the count
      assertEquals(work.byKernel["VitkdObjective"], 3);
      assertEquals(work.byKernel["VitkdObjectiveGrad"], 1);
      await initBackend({ backend: "cpu" });
    },
  });
}
