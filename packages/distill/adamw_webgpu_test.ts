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

/**
 * Three steps of AdamW on three variables (one decayed, one without a
 * gradient at step 2, one sharing its buffer with a live tensor), the state
 * saved and restored into a fresh optimizer between steps 2 and 3; the
 * final values and moments.
 */
async function threeSteps(backend: "cpu" | "webgpu") {
  await initBackend({ backend });
  await tf.ready();
  const [kernel, bias] = tf.tidy(() => [
    tf.variable(
      tf.tensor2d([[0.5, -1.25, 2], [3, -0.75, 0.1]]),
      true,
      "dense/kernel",
    ),
    tf.variable(tf.tensor1d([0.2, -0.4, 0]), true, "dense/bias"),
  ]);
  // a variable made from a tensor that stays alive shares its buffer
  const initial = tf.tensor1d([1.5, -2.5, 0.25, 4]);
  const shared = tf.variable(initial, true, "other/kernel");
  const variables = [kernel, bias, shared];
  let optimizer = new AdamW(variables, { weightDecay: 0.1 });
  for (let step = 1; step <= 3; step++) {
    if (step === 3) {
      // a fresh optimizer resumes from the saved state
      const state = await optimizer.getState();
      optimizer.dispose();
      optimizer = new AdamW(variables, { weightDecay: 0.1 });
      optimizer.setState(state);
    }
    const grads = tf.tidy(() => [
      tf.mul(tf.tensor2d([[0.3, -0.2, 1], [-2, 0.05, 0.7]]), step),
      tf.tensor1d([0.01 * step, -1, 0.5]),
      tf.tensor1d([0.4, -0.1 * step, 2, -3]),
    ]);
    const before = tf.memory().numTensors;
    optimizer.step(
      step === 2 ? [grads[0], undefined!, grads[2]] : grads,
      0.01 * step,
    );
    // the shared variable's own copy replaces its old reference
    assertEquals(tf.memory().numTensors, before);
    tf.dispose(grads);
  }
  const values = await Promise.all(
    variables.map(async (v) => Array.from(await v.data())),
  );
  // the tensor the shared variable was made from is as it was
  const untouched = Array.from(await initial.data());
  const state = await optimizer.getState();
  optimizer.dispose();
  tf.dispose([...variables, initial]);
  return {
    values,
    untouched,
    m: state.m.map((a) => Array.from(a)),
    v: state.v.map((a) => Array.from(a)),
  };
}

Deno.test({
  name:
    "AdamW on webgpu: in-place dispatches over packed moments, equal to cpu",
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
        ["second moments", actual.v, expected.v],
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
    assertEquals(actual.untouched, [1.5, -2.5, 0.25, 4]);
    // 3 steps of 3 variables (2 at step 2): one dispatch a step where the
    // device binds three variables' 8 buffers (WebGPU's default of 8 binds
    // three), and none of the composed update's programs; at most one
    // program for the shared variable's copy (tfjs makes a 4-value product
    // on the CPU)
    const per = adamwVariablesPerDispatch(
      (tf.backend() as unknown as { device: GPUDevice }).device,
    );
    assertEquals(work.byKernel["VitkdAdamW"], per >= 3 ? 3 : 5);
    assert(work.dispatches - work.byKernel["VitkdAdamW"] <= 1);
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

Deno.test({
  name:
    "AdamW on webgpu: a one-value variable is not updated inside a shared constant buffer",
  ignore,
  fn: async () => {
    const run = async (backend: "cpu" | "webgpu") => {
      await initBackend({ backend });
      const scale = tf.tidy(() =>
        tf.variable(tf.tensor1d([0.7]), true, "scale/gamma")
      );
      const optimizer = new AdamW([scale]);
      for (let step = 1; step <= 2; step++) {
        const grad = tf.tensor1d([0.5 * step]);
        optimizer.step([grad], 0.1);
        grad.dispose();
      }
      // a fresh 0.7 elsewhere, on the GPU (1,000 values are not computed on
      // the CPU): one-value uploads share a buffer per value
      const product = tf.mul(tf.ones([1000]), 0.7);
      const values = [(await scale.data())[0], (await product.data())[0]];
      optimizer.dispose();
      tf.dispose([scale, product]);
      return values;
    };
    const expected = await run("cpu");
    const actual = await run("webgpu");
    assert(
      Math.abs(actual[0] - expected[0]) <= 1e-6,
      `variable: webgpu ${actual[0]}, cpu ${expected[0]}`,
    );
    assertEquals(actual[1], expected[1]);
    await initBackend({ backend: "cpu" });
  },
});
