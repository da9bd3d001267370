import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  assertAllClose,
  type HostTensor,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import {
  fusedGelu,
  fusedKernelsActive,
  fusedLayerNorm,
  fusedSoftmax,
  headsToTokens,
  padTokens,
  sliceTokens,
  tokensToHeads,
} from "./ops.ts";
import { registerFusedKernels } from "./register.ts";
import {
  assertHelperSplitExact,
  hasHelperThread,
} from "../native/_helper_test_util.ts";
import { MIN_SHARED_ELEMENTS } from "./parallel_loops.ts";
import { AS_ERF } from "../native/loops.ts";
import { hasMovingAverages, movingAverages } from "./moving_average_kernel.ts";

registerFusedKernels();

// Float32 results of a few dozen-term reductions: values agree with cpu to
// ~1e-6 relative; gradients, sums of products, to 1e-4 relative + 1e-5.
const VALUES = { rtol: 1e-5, atol: 1e-6 };
const GRADS = { rtol: 1e-4, atol: 1e-5 };

/** Outputs of `f` and the gradients of sum(f(inputs) * probe) w.r.t. each input. */
function valueAndGrads(
  f: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  probe: HostTensor,
): () => tf.Tensor[] {
  return () => {
    const xs = inputs.map(toTensor);
    const p = toTensor(probe);
    const y = f(...xs);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), p)))(
      xs,
    );
    return [y, ...grads];
  };
}

async function assertParity(
  label: string,
  fused: (...inputs: tf.Tensor[]) => tf.Tensor,
  reference: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  probe: HostTensor,
): Promise<void> {
  const expected = await onBackend(
    "cpu",
    valueAndGrads(reference, inputs, probe),
  );
  const actual = await onBackend("wasm", () => {
    assert(fusedKernelsActive(), "fused kernels inactive on wasm");
    return valueAndGrads(fused, inputs, probe)();
  });
  assertAllClose(actual[0], expected[0], VALUES, `${label} value`);
  for (let i = 1; i < expected.length; i++) {
    assertAllClose(actual[i], expected[i], GRADS, `${label} gradient ${i}`);
  }
}

Deno.test("fusedLayerNorm on wasm = moments formula on cpu, values and gradients", async () => {
  for (const shape of [[6, 16], [2, 5, 24]]) {
    const width = shape[shape.length - 1];
    const x = seeded(shape, 1, 3);
    x.values.forEach((v, i) => x.values[i] = v + 2);
    await assertParity(
      `layer norm [${shape}]`,
      (a, g, b) => fusedLayerNorm(a, g, b, 1e-6),
      (a, g, b) => {
        const { mean, variance } = tf.moments(a, -1, true);
        return tf.add(
          tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-6))), g),
          b,
        );
      },
      [x, seeded([width], 2, 1.5), seeded([width], 3)],
      seeded(shape, 4),
    );
  }
});

Deno.test("fusedSoftmax on wasm = tf.softmax on cpu, values and gradients", async () => {
  // Logits of scale 60 overflow exp unless the row max is subtracted.
  for (const scale of [4, 60]) {
    await assertParity(
      `softmax scale ${scale}`,
      (a) => fusedSoftmax(a),
      (a) => tf.softmax(a),
      [seeded([3, 4, 9], 5, scale)],
      seeded([3, 4, 9], 6),
    );
  }
});

Deno.test("fusedGelu on wasm = tf.layers gelu formula on cpu, values and gradients", async () => {
  for (const training of [true, false]) {
    await assertParity(
      `gelu training ${training}`,
      (a) => fusedGelu(a, { training }),
      (a) => tf.mul(a, tf.mul(0.5, tf.add(1, tf.erf(tf.div(a, Math.SQRT2))))),
      [seeded([5, 37], 7, 7)],
      seeded([5, 37], 8),
    );
  }
});

Deno.test("fusedGelu default keeps the slope", async () => {
  await assertParity(
    "gelu",
    (a) => fusedGelu(a),
    (a) => tf.mul(a, tf.mul(0.5, tf.add(1, tf.erf(tf.div(a, Math.SQRT2))))),
    [seeded([5, 37], 7, 7)],
    seeded([5, 37], 8),
  );
});

Deno.test("the GELU loop's erf constants are tfjs'", () => {
  const u = tf.backend_util;
  assertEquals([...AS_ERF], [
    u.ERF_P,
    u.ERF_A1,
    u.ERF_A2,
    u.ERF_A3,
    u.ERF_A4,
    u.ERF_A5,
  ]);
});

Deno.test({
  name:
    "fused GELU, layer norm and its gradient, softmax gradient and leading sums shared with the helper thread = on one thread, exactly",
  ignore: !hasHelperThread,
  async fn() {
    // 300 rows of 256: above the split threshold, an even row count.
    const shape = [300, 256];
    assert(300 * 256 >= MIN_SHARED_ELEMENTS);
    const x = seeded(shape, 21, 6);
    const gamma = seeded([256], 22, 1.5);
    const beta = seeded([256], 23);
    const probe = seeded(shape, 24);
    const compute = () => {
      const [a, g, b, p] = [x, gamma, beta, probe].map(toTensor);
      const slope = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(fusedGelu(t, { training: true }), p))
      )(a);
      const softmaxGrad = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(fusedSoftmax(t), p))
      )(a);
      return [
        fusedGelu(a, { training: false }),
        fusedGelu(a, { training: true }),
        slope,
        fusedLayerNorm(a, g, b, 1e-6),
        // its gradient: blocks of rows split between the threads
        ...tf.grads((t: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(fusedLayerNorm(t, gg, bb, 1e-6), p))
        )([a, g, b]),
        softmaxGrad,
        // a bias gradient's column sums, columns split between the threads
        tf.sum(a, 0),
        // a global average pool, images split between the threads
        tf.mean(tf.reshape(a, [3, 10, 10, 256]), [1, 2]),
      ];
    };
    await assertHelperSplitExact(compute);
  },
});

// The stock layout change: slice part, [N, L, H, d] -> [N, H, L, d].
function referenceHeads(
  x: tf.Tensor,
  heads: number,
  parts: number,
  scale: number,
): tf.Tensor[] {
  const [n, length, width] = x.shape;
  const dim = width / parts;
  return Array.from({ length: parts }, (_, p) => {
    const part = tf.slice(x, [0, 0, p * dim], [n, length, dim]);
    const moved = tf.reshape(
      tf.transpose(tf.reshape(part, [n, length, heads, dim / heads]), [
        0,
        2,
        1,
        3,
      ]),
      [n * heads, length, dim / heads],
    );
    return p === 0 ? tf.mul(moved, scale) : moved;
  });
}

Deno.test("tokensToHeads / headsToTokens on wasm = slice + transpose on cpu", async () => {
  const heads = 3;
  const x = seeded([2, 5, 3 * 12], 9);
  const probes = [10, 11, 12].map((s) => seeded([2 * heads, 5, 4], s));
  const compute = (split: (x: tf.Tensor) => tf.Tensor[]) => () => {
    const input = toTensor(x);
    const ps = probes.map(toTensor);
    const loss = (a: tf.Tensor) =>
      tf.addN(split(a).map((part, i) => tf.sum(tf.mul(part, ps[i]))));
    return [...split(input), tf.grad(loss)(input)];
  };
  const expected = await onBackend(
    "cpu",
    compute((a) => referenceHeads(a, heads, 3, 0.25)),
  );
  const actual = await onBackend(
    "wasm",
    compute((a) => tokensToHeads(a as tf.Tensor3D, heads, 3, 0.25)),
  );
  expected.forEach((e, i) =>
    assertAllClose(actual[i], e, VALUES, `tokensToHeads output ${i}`)
  );
  // headsToTokens inverts it, and its gradient is tokensToHeads.
  const [roundTrip, back] = await onBackend("wasm", () => {
    const input = toTensor(x);
    const parts = tokensToHeads(input as tf.Tensor3D, heads, 3, 0.25);
    const joined = headsToTokens(parts, heads, 4);
    const grads = tf.grads((...p: tf.Tensor[]) =>
      tf.sum(tf.mul(headsToTokens(p as tf.Tensor3D[], heads, 4), input))
    )(parts);
    return [joined, ...grads];
  });
  assertAllClose(roundTrip, x, VALUES, "headsToTokens(tokensToHeads(x))");
  const scaled = (await onBackend(
    "cpu",
    () => referenceHeads(toTensor(x), heads, 3, 4)[0],
  ))[0];
  assertAllClose(back, scaled, VALUES, "headsToTokens gradient of part 0");
});

Deno.test("sliceTokens / padTokens on wasm = tf.slice / tf.pad on cpu", async () => {
  const x = seeded([3, 7, 5], 13);
  const probe = seeded([3, 2, 5], 14);
  await assertParity(
    "sliceTokens",
    (a) => sliceTokens(a as tf.Tensor3D, 4, 2),
    (a) => tf.slice(a, [0, 4, 0], [3, 2, 5]),
    [x],
    probe,
  );
  await assertParity(
    "padTokens",
    (a) => padTokens(a as tf.Tensor3D, 1, 6),
    (a) => tf.pad(a, [[0, 0], [1, 3], [0, 0]]),
    [seeded([3, 2, 5], 15)],
    seeded([3, 6, 5], 16),
  );
});

Deno.test("fused kernels name the bad input", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  const cases: [() => unknown, string][] = [
    [
      () => fusedLayerNorm(tf.zeros([2, 4]), tf.ones([3]), tf.zeros([4]), 1e-6),
      "gamma and beta need 4 values for x of shape [2,4], got [3] and [4]",
    ],
    [
      () => tokensToHeads(tf.zeros([2, 3, 10]), 4, 3),
      "width 10 of x [2,3,10] does not divide into 3 parts of 4 heads",
    ],
    [
      () => sliceTokens(tf.zeros([2, 3, 4]), 2, 2),
      "tokens [2, 4) are out of range for 3 tokens",
    ],
    [
      () => headsToTokens([tf.zeros([4, 3, 2]), tf.zeros([4, 2, 2])], 2),
      "part1 of shape [4,2,2] differs from part0 [4,3,2]",
    ],
    [
      () => fusedSoftmax(tf.zeros([2, 3], "int32")),
      "input x must be float32, got int32",
    ],
  ];
  for (const [run, message] of cases) {
    assertThrows(() => tf.tidy(run as () => void), Error, message);
  }
  await onBackend("cpu", () => tf.scalar(0));
  assertThrows(
    () => fusedGelu(tf.zeros([2])),
    Error,
    "fusedGelu: the fused kernels run on wasm or webgpu",
  );
});

Deno.test("fused attention block training keeps the tensor count flat", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  const x = tf.randomNormal([2, 5, 24], 0, 1, "float32", 17);
  const gamma = tf.variable(tf.ones([24]));
  const beta = tf.variable(tf.zeros([24]));
  const qkv = tf.variable(tf.randomNormal([24, 72], 0, 0.1, "float32", 18));
  const optimizer = tf.train.sgd(0.01);
  const step = () =>
    optimizer.minimize(() => {
      const h = fusedLayerNorm(x, gamma, beta, 1e-6);
      const projected = tf.reshape(
        tf.matMul(tf.reshape(h, [10, 24]), qkv),
        [2, 5, 72],
      ) as tf.Tensor3D;
      const [q, k, v] = tokensToHeads(projected, 2, 3, 0.5);
      const mixed = tf.matMul(fusedSoftmax(tf.matMul(q, k, false, true)), v);
      const tokens = headsToTokens([fusedGelu(mixed) as tf.Tensor3D], 2);
      return tf.sum(tf.square(sliceTokens(tokens, 0, 2)));
    });
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert(
    tf.memory().numTensors === before,
    `tensor count went from ${before} to ${tf.memory().numTensors}`,
  );
  tf.dispose([x, gamma, beta, qkv]);
  optimizer.dispose();
});

Deno.test("wasm Mean over the middle axes (global average pool) = cpu Mean; other axes still work", async () => {
  const cases: [number[], number | number[], boolean][] = [
    [[3, 4, 5, 6], [1, 2], false],
    [[3, 4, 5, 6], [2, 1], true],
    [[3, 4, 5, 6], [-3, -2], false],
    [[3, 7, 6], 1, false],
    [[2, 3, 4, 5, 6], [1, 2, 3], true],
    [[3, 4, 5, 6], [1], false],
    [[3, 4, 5, 6], [0, 1, 2], false],
  ];
  for (const [shape, axis, keepDims] of cases) {
    const x = seeded(shape, 29, 2);
    const compute = () => tf.mean(tf.add(toTensor(x), 3), axis, keepDims);
    const [expected] = await onBackend("cpu", compute);
    const [actual] = await onBackend("wasm", compute);
    assertAllClose(
      actual,
      expected,
      VALUES,
      `mean [${shape}] axis ${axis} keepDims ${keepDims}`,
    );
  }
});

Deno.test("wasm Sum over leading axes = cpu Sum; other axes still work", async () => {
  const x = seeded([3, 4, 5], 19, 2);
  const cases: [number | number[], boolean][] = [
    [0, false],
    [[0, 1], false],
    [[1, 0], true],
    [[-3], false],
    [[1], false],
    [[0, 2], true],
    [[0, 1, 2], false],
  ];
  for (const [axis, keepDims] of cases) {
    const compute = () => tf.sum(toTensor(x), axis, keepDims);
    const [expected] = await onBackend("cpu", compute);
    const [actual] = await onBackend("wasm", compute);
    assertAllClose(
      actual,
      expected,
      VALUES,
      `sum axis ${axis} keepDims ${keepDims}`,
    );
  }
  const [ints] = await onBackend(
    "wasm",
    () => tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), 0),
  );
  assert(ints.values.join(",") === "4,6", `int32 sum ${ints.values}`);
});

Deno.test("movingAverages on wasm: one kernel, the same float32 values as the composed sub, mul, sub", async () => {
  const targets = [seeded([16], 71, 3), seeded([2, 40], 72, 3)];
  const values = [seeded([16], 73, 3), seeded([2, 40], 74, 3)];
  const composed = () =>
    targets.map((t, k) =>
      tf.sub(
        toTensor(t),
        tf.mul(tf.sub(toTensor(t), toTensor(values[k])), 0.01),
      )
    );
  const fused = () =>
    movingAverages(targets.map(toTensor), values.map(toTensor), 0.01);
  const expected = await onBackend("wasm", composed);
  const actual = await onBackend("wasm", fused);
  assert(hasMovingAverages(), "the kernel is registered on wasm");
  actual.forEach((a, k) => {
    assertEquals(a.shape, expected[k].shape);
    assertEquals([...a.values], [...expected[k].values], `pair ${k}`);
  });
  assertThrows(
    () => movingAverages([tf.zeros([2])], [], 0.1),
    Error,
    "1 targets for 0 values",
  );
});

Deno.test("Mean and Sum gradients over a block of axes on wasm: one spread kernel, tfjs's values to the bit", async () => {
  const { registerReductionGradients } = await import(
    "../reduction_gradients.ts"
  );
  registerReductionGradients();
  const x = seeded([3, 4, 5, 6], 31);
  const cases: [string, (t: tf.Tensor) => tf.Tensor, number[]][] = [
    ["mean over [1, 2]", (t) => tf.mean(t, [1, 2]), [3, 6]],
    ["sum over [0, 1]", (t) => tf.sum(t, [0, 1]), [5, 6]],
    // the last axis: not a block before it, tfjs's formulation
    ["sum over [3]", (t) => tf.sum(t, 3), [3, 4, 5]],
  ];
  for (const [label, f, probeShape] of cases) {
    const probe = seeded(probeShape, 32);
    const gradient = () => {
      const p = toTensor(probe);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), p)))(toTensor(x));
    };
    const wasm = await onBackend("wasm", () => [gradient()]);
    const cpu = await onBackend("cpu", () => [gradient()]);
    assertEquals(Array.from(wasm[0].values), Array.from(cpu[0].values), label);
    await tf.setBackend("wasm");
    const { kernelNames } = await tf.profile(() => tf.dispose(gradient()));
    assertEquals(
      kernelNames.includes("VitkdSpreadRows"),
      label !== "sum over [3]",
      `${label}: ${kernelNames.join(", ")}`,
    );
  }
});
