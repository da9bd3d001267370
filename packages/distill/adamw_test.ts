import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { AdamW, defaultSkipDecay } from "./adamw.ts";
import { adamwReference } from "./_test_adamw_reference.ts";

await initBackend({ backend: "cpu" });

function assertArrayClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
): void {
  assertEquals(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assertAlmostEquals(actual[i], expected[i], tolerance, `index ${i}`);
  }
}

Deno.test("one AdamW step equals the hand computation p - lr (sign(g) + wd p)", () => {
  // after one step m_hat = g and v_hat = g^2, so the Adam part is g/|g|
  const w = tf.variable(tf.tensor2d([[1, -2], [3, 0.5]]), true, "dense/kernel");
  const opt = new AdamW([w], { weightDecay: 0.01, epsilon: 0 });
  const g = tf.tensor2d([[0.1, 0.2], [-0.3, 0.4]]);
  opt.step({ "dense/kernel": g }, 0.1);
  assertArrayClose(w.dataSync(), [
    1 - 0.1 * (1 + 0.01 * 1),
    -2 - 0.1 * (1 + 0.01 * -2),
    3 - 0.1 * (-1 + 0.01 * 3),
    0.5 - 0.1 * (1 + 0.01 * 0.5),
  ], 1e-6);
  assertEquals(opt.iterations, 1);
  opt.dispose();
  tf.dispose([w, g]);
});

Deno.test("AdamW follows the plain-loop reference over several steps and learning rates", () => {
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
  grads.forEach((g, i) => {
    const gk = tf.tensor2d(g, [2, 3]);
    const gb = tf.tensor1d(biasGrads[i]);
    opt.step([gk, gb], lrs[i]);
    tf.dispose([gk, gb]);
  });
  assertArrayClose(
    kernel.dataSync(),
    adamwReference(init, grads, lrs, true),
    1e-6,
  );
  // rank-1 bias: no weight decay
  assertArrayClose(
    bias.dataSync(),
    adamwReference([0.5, -0.5], biasGrads, lrs, false),
    1e-6,
  );
  assertEquals(opt.decayMask, [true, false]);
  opt.dispose();
  tf.dispose([kernel, bias]);
});

Deno.test("default decay exclusion: rank <= 1, norms, position embeddings and tokens", () => {
  const make = (name: string, shape: number[]) =>
    tf.variable(tf.zeros(shape), true, name);
  const cases: [string, number[], boolean][] = [
    ["block1/dense/kernel", [4, 4], false],
    ["block1/dense/bias", [4], true],
    ["layer_norm/gamma", [4], true],
    ["vit/pos_embedding", [1, 5, 4], true],
    ["tokens/position_embedding", [1, 5, 4], true],
    ["tokens/class_token", [1, 1, 4], true],
    ["tokens/distillation_tokens", [1, 2, 4], true],
    ["block0_attention/qkv_bias", [1, 48], true],
    ["block0_attention/qkv_kernel", [16, 48], false],
    ["head_distillation1/kernel", [16, 4], false],
    ["block0_norm1_dense/kernel", [16, 4], false],
    ["conv2d/kernel", [3, 3, 1, 4], false],
  ];
  for (const [name, shape, skipped] of cases) {
    const v = make(name, shape);
    assertEquals(defaultSkipDecay(v), skipped, name);
    v.dispose();
  }
});

Deno.test("AdamW state round trip: a restored optimizer continues exactly", async () => {
  const gradsAt = (step: number) =>
    tf.tensor2d([[0.1 * step, -0.2], [0.3, 0.05 * step]]);
  const a = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, "a/kernel");
  const optA = new AdamW([a]);
  for (let s = 1; s <= 4; s++) {
    const g = gradsAt(s);
    optA.step([g], 0.01);
    g.dispose();
  }
  // B runs two steps, saves, and a fresh C resumes from the state
  const b = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, "b/kernel");
  const optB = new AdamW([b]);
  for (let s = 1; s <= 2; s++) {
    const g = gradsAt(s);
    optB.step([g], 0.01);
    g.dispose();
  }
  const state = await optB.getState();
  const c = tf.variable(tf.tensor(b.dataSync(), [2, 2]), true, "c/kernel");
  const optC = new AdamW([c]);
  optC.setState(state);
  assertEquals(optC.iterations, 2);
  for (let s = 3; s <= 4; s++) {
    const g = gradsAt(s);
    optC.step([g], 0.01);
    g.dispose();
  }
  assertEquals(Array.from(c.dataSync()), Array.from(a.dataSync()));
  assertThrows(
    () =>
      optC.setState({
        step: 1,
        m: [new Float32Array(3)],
        v: [new Float32Array(4)],
      }),
    Error,
    "m[0]",
  );
  assertThrows(
    () => optC.setState({ step: 1, m: [], v: [] }),
    Error,
    "0/0 moments",
  );
  for (const o of [optA, optB, optC]) o.dispose();
  tf.dispose([a, b, c]);
});

Deno.test("AdamW leaves a variable without gradient untouched and checks shapes", () => {
  const a = tf.variable(tf.tensor2d([[1, 2]]), true, "x/kernel");
  const b = tf.variable(tf.tensor2d([[5, 6]]), true, "y/kernel");
  const opt = new AdamW([a, b]);
  const g = tf.tensor2d([[1, 1]]);
  opt.step({ "x/kernel": g }, 0.1);
  assertEquals(Array.from(b.dataSync()), [5, 6]);
  const bad = tf.tensor1d([1, 1]);
  assertThrows(() => opt.step([bad, g]), Error, 'gradient of "x/kernel"');
  assertThrows(() => opt.step([g]), Error, "1 gradients for 2 variables");
  assertThrows(() => new AdamW([a], { beta1: 1 }), Error, "beta1");
  opt.dispose();
  tf.dispose([a, b, g, bad]);
});

Deno.test("AdamW steps leak no tensors", async () => {
  const w = tf.variable(
    tf.randomNormal([8, 8], 0, 1, "float32", 1),
    true,
    "w/kernel",
  );
  const opt = new AdamW([w]);
  const g = tf.ones([8, 8]);
  const start = tf.memory().numTensors;
  const opt2 = new AdamW([w]);
  opt2.dispose();
  assertEquals(tf.memory().numTensors, start);
  opt.step([g], 0.01);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) opt.step([g], 0.01);
  opt.setState(await opt.getState());
  assertEquals(tf.memory().numTensors, before);
  opt.dispose();
  assertEquals(tf.memory().numTensors, start - 2);
  tf.dispose([w, g]);
});
