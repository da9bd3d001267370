// The Involution layer in training mode on WebGPU against cpu: output,
// gradients of x and every weight, and the moving statistics after the
// step. WebGPU takes its own paths here (the kernel generator's pooling as
// tf.avgPool when every window is full, the span bias inside the product,
// the moving statistics inside the batch-norm dispatch), so this checks them
// against the composition cpu runs; a 7x7 input at stride 2 has partial
// windows and keeps the composition on both.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { countWebGpuWork, initBackend } from "@vitkd/backend";
import { Involution } from "./involution.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

const CASES = [
  { x: [2, 8, 8, 8], strides: 2 },
  { x: [2, 7, 7, 8], strides: 2 },
  { x: [2, 6, 5, 8], strides: 1 },
] as const;

/** Output, gradients (x, then each trainable weight) and all weights after. */
async function step(shape: readonly number[], strides: number) {
  const layer = new Involution({
    kernelSize: 3,
    strides,
    groupChannels: 4,
    reductionRatio: 2,
    seed: 7,
  });
  const x = tf.variable(tf.randomNormal([...shape], 0.3, 1.5, "float32", 11));
  tf.dispose(layer.apply(x) as tf.Tensor);
  // a generated part of the kernel as large as the static one, so the
  // generator's gradients are not small next to the tolerance
  tf.tidy(() =>
    layer.setWeights(
      layer.getWeights().map((w, i) =>
        layer.weights[i].name.endsWith("span_kernel")
          ? tf.randomNormal(w.shape, 0, 0.5, "float32", 12)
          : w
      ),
    )
  );
  const out = tf.tidy(() => {
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    const weights = tf.randomNormal(y.shape, 0, 1, "float32", 13);
    const variables = [
      x,
      ...layer.trainableWeights.map((w) => w.read() as tf.Variable),
    ];
    const { grads } = tf.variableGrads(
      () =>
        tf.sum(
          tf.mul(layer.apply(x, { training: true }) as tf.Tensor, weights),
        ) as tf.Scalar,
      variables,
    );
    return [y, ...variables.map((v) => grads[v.name])];
  });
  const values = await Promise.all(
    [...out, ...layer.getWeights()].map((t) => t.data()),
  );
  tf.dispose([...out, x]);
  layer.dispose();
  return values as Float32Array[];
}

for (const c of CASES) {
  Deno.test({
    name:
      `Involution on webgpu, stride ${c.strides}, x [${c.x}]: output, gradients and moving statistics equal cpu`,
    ignore,
    sanitizeResources: false,
    fn: async () => {
      await initBackend({ backend: "cpu" });
      const expected = await step(c.x, c.strides);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        step(c.x, c.strides)
      );
      assertEquals(actual.length, expected.length);
      expected.forEach((want, k) => {
        let scale = 1e-3;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        want.forEach((w, i) =>
          assert(
            Math.abs(actual[k][i] - w) <= 2e-4 * scale,
            `output ${k} [${i}]: webgpu ${actual[k][i]}, cpu ${w}`,
          )
        );
      });
      const full = c.strides > 1 && c.x[1] % c.strides === 0 &&
        c.x[2] % c.strides === 0;
      // three forward passes (inference, training, under the gradient), one
      // backward
      assertEquals(work.byKernel["Pool2DProgram"] ?? 0, full ? 3 : 0);
      assertEquals(
        work.byKernel["AvgPool2DBackpropProgram"] ?? 0,
        full ? 1 : 0,
      );
      assertEquals(work.byKernel["VitkdMovingAverages"] ?? 0, 0);
      await initBackend({ backend: "cpu" });
    },
  });
}
