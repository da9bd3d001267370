import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  assertAllClose,
  type HostTensor,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import { fusedBatchNormTraining, fusedInvolution } from "./ops.ts";
import { registerCnnKernels } from "./register.ts";
import {
  assertHelperSplitExact,
  hasHelperThread,
} from "../native/_helper_test_util.ts";
import { MIN_SHARED_ELEMENTS } from "../fused/parallel_loops.ts";
import { setWasmSimd } from "../wasm_simd/involution_simd.ts";

registerCnnKernels();

const TOLERANCE = { rtol: 1e-4, atol: 2e-5 };

/** Batch norm as tfjs composes it: moments + batchNorm, tfjs autodiff. */
function referenceBatchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
}

/** Involution aggregation as pad + strided slices + multiply + add. */
function referenceInvolution(
  x: tf.Tensor4D,
  kernels: tf.Tensor4D,
  k: number,
  s: number,
  groupChannels: number,
): tf.Tensor {
  const [n, , , c] = x.shape;
  const [, outH, outW] = kernels.shape;
  const groups = c / groupChannels;
  const p = (k - 1) / 2;
  const padded = tf.pad(x, [[0, 0], [p, p + s * outH], [p, p + s * outW], [
    0,
    0,
  ]]);
  let sum: tf.Tensor | undefined;
  for (let u = 0; u < k; u++) {
    for (let v = 0; v < k; v++) {
      // tfjs has no StridedSlice gradient: slice s·out rows, keep every s-th.
      const window = tf.slice(padded, [0, u, v, 0], [n, s * outH, s * outW, c]);
      const view = tf.slice(
        tf.reshape(window, [n * outH, s, outW, s * c]),
        [0, 0, 0, 0],
        [n * outH, 1, outW, c],
      );
      const tap = tf.slice(kernels, [0, 0, 0, (u * k + v) * groups], [
        n,
        outH,
        outW,
        groups,
      ]);
      const term = tf.mul(
        tf.reshape(view, [n, outH, outW, groups, groupChannels]),
        tf.reshape(tap, [n, outH, outW, groups, 1]),
      );
      sum = sum ? tf.add(sum, term) : term;
    }
  }
  return tf.reshape(sum!, [n, outH, outW, c]);
}

async function compare(
  label: string,
  fused: () => tf.Tensor[],
  reference: () => tf.Tensor[],
): Promise<void> {
  const expected = await onBackend("cpu", reference);
  const actual = await onBackend("wasm", fused);
  assertEquals(actual.length, expected.length);
  actual.forEach((a: HostTensor, i: number) =>
    assertAllClose(a, expected[i], TOLERANCE, `${label} output ${i}`)
  );
}

Deno.test("fused batch norm: y, mean, variance and gradients on wasm equal cpu's composition", async () => {
  for (const shape of [[7, 5], [4, 6, 5, 16]]) {
    const c = shape[shape.length - 1];
    const xs = seeded(shape, 1, 3), gs = seeded([c], 2), bs = seeded([c], 3);
    const probe = seeded(shape, 4);
    const run = (bn: typeof referenceBatchNorm, stats: boolean) => () => {
      const [x, g, b, p] = [xs, gs, bs, probe].map(toTensor);
      const loss = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(bn(a, gg, bb), p));
      const grads = tf.grads(loss)([x, g, b]);
      const axes = shape.slice(0, -1).map((_, i) => i);
      const moments = stats
        ? fusedBatchNormTraining(x, g, b, 1e-3)
        : tf.moments(x, axes);
      return [bn(x, g, b), moments.mean, moments.variance, ...grads];
    };
    await compare(
      `batch norm [${shape}]`,
      run((x, g, b) => fusedBatchNormTraining(x, g, b, 1e-3).y, true),
      run(referenceBatchNorm, false),
    );
  }
});

Deno.test("fused batch norm + relu: value and gradients on wasm equal cpu's relu(composition)", async () => {
  const shape = [4, 5, 5, 8];
  const xs = seeded(shape, 21, 3), gs = seeded([8], 22), bs = seeded([8], 23);
  const probe = seeded(shape, 24);
  const run = (bn: typeof referenceBatchNorm) => () => {
    const [x, g, b, p] = [xs, gs, bs, probe].map(toTensor);
    const loss = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(bn(a, gg, bb), p));
    return [bn(x, g, b), ...tf.grads(loss)([x, g, b])];
  };
  await compare(
    "batch norm + relu",
    run((x, g, b) => fusedBatchNormTraining(x, g, b, 1e-3, true).y),
    run((x, g, b) => tf.relu(referenceBatchNorm(x, g, b))),
  );
});

Deno.test({
  name:
    "fused training batch norm (+ relu) shared with the helper thread = on one thread, exactly",
  ignore: !hasHelperThread,
  async fn() {
    // 8 x 16 x 16 pixels of 32 channels: above the split threshold.
    const shape = [8, 16, 16, 32];
    assert(8 * 16 * 16 * 32 >= MIN_SHARED_ELEMENTS);
    const xs = seeded(shape, 31, 3), gs = seeded([32], 32);
    const bs = seeded([32], 33), probe = seeded(shape, 34);
    const compute = () =>
      [false, true].flatMap((relu) => {
        const [x, g, b, p] = [xs, gs, bs, probe].map(toTensor);
        const loss = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(fusedBatchNormTraining(a, gg, bb, 1e-3, relu).y, p));
        return [
          fusedBatchNormTraining(x, g, b, 1e-3, relu).y,
          ...tf.grads(loss)([x, g, b]),
        ];
      });
    await assertHelperSplitExact(compute);
  },
});

Deno.test({
  name:
    "fused involution's heap loops shared with the helper thread (images split) = on one thread, exactly",
  ignore: !hasHelperThread,
  async fn() {
    // the heap loops run where the SIMD kernels cannot (off here)
    setWasmSimd(false);
    const compute = () =>
      ([1, 2] as const).flatMap((s) => {
        // 6 images of 16 x 16 x 32: above the split threshold per call.
        const [n, h, w, c, gc] = [6, 16, 16, 32, 8];
        const kShape = [n, h / s, w / s, 9 * (c / gc)];
        assert((n * kShape[1] * kShape[2] * c * 9) >= MIN_SHARED_ELEMENTS);
        const [x, kk, p] = [
          seeded([n, h, w, c], 41 + s),
          seeded(kShape, 43 + s),
          seeded([n, h / s, w / s, c], 45 + s),
        ].map(toTensor) as tf.Tensor4D[];
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          fusedInvolution(a as tf.Tensor4D, b as tf.Tensor4D, {
            kernelSize: 3,
            strides: s,
            groupChannels: gc,
          });
        return [
          f(x, kk),
          ...tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(f(a, b), p))
          )(
            [x, kk],
          ),
        ];
      });
    try {
      await assertHelperSplitExact(compute);
    } finally {
      setWasmSimd(true);
    }
  },
});

Deno.test("fused involution: value and gradients on wasm equal cpu's slices, strides 1 and 2", async () => {
  for (
    const [shape, k, s] of [
      [[2, 6, 6, 8], 3, 1],
      [[2, 7, 5, 8], 3, 2],
      [[1, 5, 5, 4], 5, 1],
    ] as [number[], number, number][]
  ) {
    const [n, h, w, c] = shape;
    const gc = 4;
    const kShape = [n, Math.ceil(h / s), Math.ceil(w / s), k * k * (c / gc)];
    const xs = seeded(shape, 5), ks = seeded(kShape, 6);
    const probe = seeded([n, kShape[1], kShape[2], c], 7);
    const run = (
      f: (x: tf.Tensor4D, kk: tf.Tensor4D) => tf.Tensor,
    ) =>
    () => {
      const [x, kk, p] = [xs, ks, probe].map(toTensor) as tf.Tensor4D[];
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), p));
      return [f(x, kk), ...tf.grads(loss)([x, kk])];
    };
    await compare(
      `involution [${shape}] K=${k} s=${s}`,
      run((x, kk) =>
        fusedInvolution(x, kk, {
          kernelSize: k,
          strides: s,
          groupChannels: gc,
        })
      ),
      run((x, kk) => referenceInvolution(x, kk, k, s, gc)),
    );
  }
});

Deno.test("fused kernels keep the tensor count flat over training-like loops", async () => {
  await tf.setBackend("wasm");
  const x = tf.randomNormal([2, 6, 6, 8]) as tf.Tensor4D;
  const kernels = tf.randomNormal([2, 3, 3, 18]) as tf.Tensor4D;
  const gamma = tf.ones([8]), beta = tf.zeros([8]);
  const step = () =>
    tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) => {
        const y = fusedInvolution(a as tf.Tensor4D, b as tf.Tensor4D, {
          kernelSize: 3,
          strides: 2,
          groupChannels: 4,
        });
        return tf.sum(fusedBatchNormTraining(y, gamma, beta, 1e-3).y);
      };
      const { value, grads } = tf.valueAndGrads(f)([x, kernels]);
      return tf.add(value, tf.add(tf.sum(grads[0]), tf.sum(grads[1])));
    });
  step().dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step().dispose();
  assertEquals(tf.memory().numTensors, before);
  tf.dispose([x, kernels, gamma, beta]);
});

Deno.test("zero-copy Identity and Cast: clones outlive their source, casts still convert", async () => {
  await tf.setBackend("wasm");
  const x = tf.tensor1d([1.5, -2.25, 3]);
  const copy = tf.clone(x);
  const same = tf.cast(x, "float32");
  x.dispose();
  assertEquals(Array.from(await copy.data()), [1.5, -2.25, 3]);
  assertEquals(Array.from(await same.data()), [1.5, -2.25, 3]);
  const ints = tf.cast(copy, "int32");
  assertEquals(ints.dtype, "int32");
  assertEquals(Array.from(await ints.data()), [1, -2, 3]);
  tf.dispose([copy, same, ints]);
});

Deno.test("fused kernels reject mismatched shapes with both shapes named", async () => {
  await tf.setBackend("wasm");
  const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D;
  const wrong = tf.zeros([1, 4, 4, 9]) as tf.Tensor4D;
  const error = assertThrows(() =>
    fusedInvolution(x, wrong, { kernelSize: 3, strides: 1, groupChannels: 4 })
  );
  assert(String(error).includes("[1,4,4,18]"), String(error));
  assert(String(error).includes("[1,4,4,9]"), String(error));
  assertThrows(
    () => fusedBatchNormTraining(x, tf.ones([7]), tf.zeros([8]), 1e-3),
    Error,
    "gamma must have shape [8]",
  );
  tf.dispose([x, wrong]);
});

Deno.test("inference batch norm (FusedBatchNorm) on wasm equals cpu, with and without scale/offset", async () => {
  const xs = seeded([3, 4, 5, 8], 11, 4);
  const ms = seeded([8], 12), vs = seeded([8], 13, 0.5);
  const gs = seeded([8], 14), bs = seeded([8], 15);
  const compute = () => {
    const [x, m, g, b] = [xs, ms, gs, bs].map(toTensor);
    const v = tf.abs(toTensor(vs));
    return [
      tf.batchNorm(x, m, v, b, g, 1e-3),
      tf.batchNorm(x, m, v, undefined, undefined, 1e-3),
      tf.batchNorm(tf.reshape(x, [60, 8]), m, v, b, g, 1e-3),
      // a one-element mean takes the stock kernel's broadcast
      tf.batchNorm(x, tf.tensor1d([0.5]), v, b, g, 1e-3),
    ];
  };
  await compare("inference batch norm", compute, compute);
});

Deno.test("Slice on wasm equals cpu: whole, contiguous and strided regions, float and int", async () => {
  const cases: [number[], number[], number[]][] = [
    [[4, 3, 5], [0, 0, 0], [4, 3, 5]], // whole: shared buffer
    [[4, 3, 5], [1, 0, 0], [2, 3, 5]], // leading rows: one copy
    [[4, 3, 5], [2, 1, 0], [1, 2, 5]], // contiguous inside a row block
    [[4, 3, 5], [0, 1, 2], [4, 2, 2]], // strided: stock kernel
    [[4, 3, 5], [1, 0, 0], [-1, -1, -1]], // -1 sizes: to the end
    [[4, 3, 5], [1, 0, 0], [0, 3, 5]], // empty
  ];
  for (const [shape, begin, size] of cases) {
    for (const dtype of ["float32", "int32"] as const) {
      const values = Array.from(
        { length: shape.reduce((a, b) => a * b, 1) },
        (_, i) => i * 3 - 7,
      );
      const results: number[][] = [];
      for (const backend of ["cpu", "wasm"]) {
        await tf.setBackend(backend);
        const x = tf.tensor(values, shape, dtype);
        const y = tf.slice(x, begin, size);
        x.dispose(); // a shared buffer must outlive its source
        results.push([...y.shape, -1, ...await y.data()]);
        y.dispose();
      }
      assertEquals(
        results[1],
        results[0],
        `${dtype} [${shape}] ${begin} ${size}`,
      );
    }
  }
});
