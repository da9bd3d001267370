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

Deno.test("AdamW on wasm writes unshared variables in place in one kernel call: the values of the per-variable kernel", async () => {
  const run = async (share: boolean) => {
    const variables = [[2, 3], [5], [7, 1]].map((shape, k) => {
      const init = tf.randomNormal(shape, 0, 1, "float32", 10 + k);
      const variable = tf.variable(init, true, `w${k}`);
      init.dispose();
      return variable;
    });
    const opt = new AdamW(variables, { weightDecay: 0.01 });
    const buffers = variables.map((v) => v.dataId);
    const held: tf.Tensor[] = [];
    const scale = tf.scalar(0.75);
    for (let step = 0; step < 3; step++) {
      // a clone shares a weight's buffer: it must keep its values
      if (share) held.push(tf.clone(variables[1]));
      const grads = variables.map((v, k) =>
        tf.randomNormal(v.shape, 0, 1, "float32", 1000 + 100 * step + k)
      );
      opt.step(grads, 0.01, step === 2 ? scale : undefined);
      tf.dispose(grads);
    }
    const inPlace = variables.every((v, k) => v.dataId === buffers[k]);
    const values = await Promise.all(variables.map((v) => v.data()));
    const state = await opt.getState();
    const firstClone = held.length > 0 ? await held[0].data() : undefined;
    opt.dispose();
    tf.dispose([...variables, ...held, scale]);
    return { inPlace, values, state, firstClone };
  };
  const before = tf.memory().numTensors;
  const own = await run(false);
  const shared = await run(true);
  assert(own.inPlace, "unshared variables got new buffers");
  assert(!shared.inPlace, "a shared buffer was written in place");
  assertEquals(own.values, shared.values);
  assertEquals(own.state, shared.state);
  // the clone taken before the first step still holds the initial values
  const init = await tf.randomNormal([5], 0, 1, "float32", 11).data();
  assertEquals(shared.firstClone, init);
  assertEquals(tf.memory().numTensors, before + 1);
});
