// AdamW on wasm, where each variable's update is the one fused kernel: the
// same plain-loop reference as on cpu, with a gradient scale, and no leaks.
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { hasFusedAdamW, initBackend } from "@vitkd/backend";
import { AdamW } from "./adamw.ts";
import { adamwReference } from "./_test_adamw_reference.ts";

await initBackend({ backend: "wasm" });

Deno.test("AdamW on wasm runs the fused update and follows the plain-loop reference, scaled gradients included", async () => {
  assert(hasFusedAdamW(), "the fused AdamW kernel is not registered on wasm");
  const init = [0.3, -1.2, 2.0, 0.0, -0.7, 1.1];
  const kernel = tf.variable(tf.tensor2d(init, [2, 3]), true, "k");
  const bias = tf.variable(tf.tensor1d([0.5, -0.5]), true, "b");
  const opt = new AdamW([kernel, bias], { weightDecay: 0.05 });
  const grads = [
    [0.1, -0.2, 0.3, 0.05, 0.0, -0.4],
    [-0.3, 0.1, 0.2, 0.2, 0.1, 0.0],
    [0.05, 0.05, -0.1, 0.3, -0.2, 0.1],
  ];
  const biasGrads = [[0.2, -0.1], [0.1, 0.3], [-0.4, 0.2]];
  const lrs = [0.01, 0.02, 0.005];
  const scale = tf.scalar(0.5);
  // the steps' tensors come and go; the optimizer's moments stay
  opt.step([tf.zerosLike(kernel), tf.zerosLike(bias)], 0);
  const before = tf.memory().numTensors;
  grads.forEach((g, i) => {
    const gk = tf.tensor2d(g, [2, 3]);
    const gb = tf.tensor1d(biasGrads[i]);
    opt.step([gk, gb], lrs[i], scale);
    tf.dispose([gk, gb]);
  });
  assertEquals(tf.memory().numTensors, before);
  // the first step above had zero gradients and learning rate 0: moments
  // and weights unchanged, but the step count (bias correction) moved on
  const shifted = (values: number[], gradients: number[][], decay: boolean) =>
    adamwReference(
      values,
      [values.map(() => 0), ...gradients],
      [0, ...lrs],
      decay,
      undefined,
      0.5,
    );
  const k = await kernel.data();
  const b = await bias.data();
  shifted(init, grads, true).forEach((want, i) =>
    assertAlmostEquals(k[i], want, 1e-6, `kernel ${i}`)
  );
  shifted([0.5, -0.5], biasGrads, false).forEach((want, i) =>
    assertAlmostEquals(b[i], want, 1e-6, `bias ${i}`)
  );
  opt.dispose();
  tf.dispose([kernel, bias, scale]);
});
