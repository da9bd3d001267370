// The fused in-place AdamW update on WebGPU against the composed update on
// cpu. The adapter here is usually Mesa's llvmpipe (software): right for
// values, not for speed.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import "@tensorflow/tfjs-backend-webgpu";
import {
  adamwVariablesPerDispatch,
  countWebGpuWork,
  initBackend,
} from "@vitkd/backend";
import { AdamW } from "./adamw.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

/** Three steps of AdamW on two variables (one decayed); the final values. */
async function threeSteps(backend: "cpu" | "webgpu") {
  await initBackend({ backend });
  await tf.ready();
  // made in a tidy: a variable sharing its buffer with a live tensor is
  // updated by the composed path instead
  const [kernel, bias] = tf.tidy(() => [
    tf.variable(
      tf.tensor2d([[0.5, -1.25, 2], [3, -0.75, 0.1]]),
      true,
      "dense/kernel",
    ),
    tf.variable(tf.tensor1d([0.2, -0.4, 0]), true, "dense/bias"),
  ]);
  const optimizer = new AdamW([kernel, bias], { weightDecay: 0.1 });
  for (let step = 1; step <= 3; step++) {
    const grads = tf.tidy(() => [
      tf.mul(tf.tensor2d([[0.3, -0.2, 1], [-2, 0.05, 0.7]]), step),
      tf.tensor1d([0.01 * step, -1, 0.5]),
    ]);
    optimizer.step(grads, 0.01 * step);
    tf.dispose(grads);
  }
  const values = [await kernel.data(), await bias.data()].map((v) =>
    Array.from(v)
  );
  const state = await optimizer.getState();
  optimizer.dispose();
  tf.dispose([kernel, bias]);
  return { values, m: state.m.map((a) => Array.from(a)) };
}

Deno.test({
  name: "AdamW on webgpu: one in-place dispatch per variable, equal to cpu",
  ignore,
  fn: async () => {
    const expected = await threeSteps("cpu");
    const { result: actual, work } = await (async () => {
      await initBackend({ backend: "webgpu" });
      return countWebGpuWork(() => threeSteps("webgpu"));
    })();
    for (
      const [which, a, e] of [
        ["values", actual.values, expected.values],
        ["first moments", actual.m, expected.m],
      ] as const
    ) {
      a.flat().forEach((value, i) => {
        const want = e.flat()[i];
        assert(
          Math.abs(value - want) <= 1e-6 + 1e-5 * Math.abs(want),
          `${which}[${i}]: webgpu ${value}, cpu ${want}`,
        );
      });
    }
    // 3 steps of 2 variables: one dispatch a step where the device binds
    // the 9 buffers of two variables (WebGPU's default of 8 needs two), and
    // none of the composed update's programs
    const per = adamwVariablesPerDispatch(
      (tf.backend() as unknown as { device: GPUDevice }).device,
    );
    assertEquals(work.byKernel["VitkdAdamW"], per >= 2 ? 3 : 6);
    assertEquals(work.byKernel["BinaryOpProgram"] ?? 0, 0);
    await initBackend({ backend: "cpu" });
  },
});

Deno.test({
  name: "clipScale on webgpu equals cpu, in one dispatch per gradient plus one",
  ignore,
  fn: async () => {
    const { clipScale } = await import("./clip.ts");
    const compute = async (backend: "cpu" | "webgpu", maxNorm: number) => {
      await initBackend({ backend });
      const grads = {
        a: tf.tensor1d([3, 4]),
        b: tf.tensor2d([[12]]),
        c: tf.tensor1d(Array.from({ length: 1000 }, (_, i) => Math.sin(i))),
      };
      const { globalNorm, scale } = clipScale(grads, maxNorm);
      const values = [(await globalNorm.data())[0], (await scale.data())[0]];
      tf.dispose([grads.a, grads.b, grads.c, globalNorm, scale]);
      return values;
    };
    for (const maxNorm of [5, 100]) {
      const expected = await compute("cpu", maxNorm);
      await initBackend({ backend: "webgpu" });
      const { result, work } = await countWebGpuWork(() =>
        compute("webgpu", maxNorm)
      );
      result.forEach((value, i) =>
        assert(
          Math.abs(value - expected[i]) <= 1e-5 * Math.abs(expected[i]),
          `maxNorm ${maxNorm} [${i}]: webgpu ${value}, cpu ${expected[i]}`,
        )
      );
      // three gradients fit one dispatch on any device that binds 4 buffers
      assertEquals(work.byKernel["VitkdSumOfSquares"], 1);
      assertEquals(work.byKernel["VitkdNormAndScale"], 1);
    }
    await initBackend({ backend: "cpu" });
  },
});
