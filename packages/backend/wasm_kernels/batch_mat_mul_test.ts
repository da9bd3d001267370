import * as tf from "@tensorflow/tfjs";
import { assertWasmMatchesCpu, seeded, toTensor } from "./_test_util.ts";

// Sums of at most 40 float32 products: rtol 1e-4 / atol 1e-5.
const TOLERANCE = { rtol: 1e-4, atol: 1e-5 };

const CASES: {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}[] = [
  { a: [7, 5], b: [5, 3], transposeA: false, transposeB: false },
  { a: [5, 7], b: [5, 3], transposeA: true, transposeB: false },
  { a: [7, 5], b: [3, 5], transposeA: false, transposeB: true },
  { a: [5, 7], b: [3, 5], transposeA: true, transposeB: true },
  { a: [4, 6, 8], b: [4, 6, 8], transposeA: false, transposeB: true },
  { a: [4, 8, 6], b: [4, 8, 6], transposeA: true, transposeB: false },
  { a: [2, 3, 6, 8], b: [2, 3, 5, 8], transposeA: false, transposeB: true },
  { a: [1, 40, 9], b: [3, 40, 2], transposeA: true, transposeB: false },
];

for (const c of CASES) {
  const name =
    `BatchMatMul wasm = cpu: a [${c.a}]${c.transposeA ? "ᵀ" : ""} · ` +
    `b [${c.b}]${c.transposeB ? "ᵀ" : ""}`;
  Deno.test(name, async () => {
    const a = seeded(c.a, 3);
    const b = seeded(c.b, 4);
    await assertWasmMatchesCpu(
      name,
      () => tf.matMul(toTensor(a), toTensor(b), c.transposeA, c.transposeB),
      TOLERANCE,
    );
  });
}

for (
  const activation of [
    "linear",
    "relu",
    "relu6",
    "elu",
    "sigmoid",
    "leakyrelu",
  ] as const
) {
  const name =
    `_FusedMatMul wasm = cpu: transposed operands, bias, ${activation}`;
  Deno.test(name, async () => {
    const a = seeded([2, 9, 6], 8);
    const b = seeded([2, 4, 9], 9);
    const bias = seeded([4], 10);
    await assertWasmMatchesCpu(name, () =>
      tf.fused.matMul({
        a: toTensor(a),
        b: toTensor(b),
        transposeA: true,
        transposeB: true,
        bias: toTensor(bias),
        activation,
        leakyreluAlpha: 0.3,
      }), TOLERANCE);
  });
}

Deno.test("_FusedMatMul wasm = cpu: unbatched, transposed, bias, relu", async () => {
  const a = seeded([9, 6], 14);
  const b = seeded([4, 9], 15);
  const bias = seeded([4], 16);
  await assertWasmMatchesCpu("fused 2-D", () =>
    tf.fused.matMul({
      a: toTensor(a),
      b: toTensor(b),
      transposeA: true,
      transposeB: true,
      bias: toTensor(bias),
      activation: "relu",
    }), TOLERANCE);
});

Deno.test("BatchMatMul gradients wasm = cpu (dense layer backward)", async () => {
  const x = seeded([6, 10], 12);
  const w = seeded([10, 4], 13);
  await assertWasmMatchesCpu("dense grads", () => {
    const grads = tf.grads((xs: tf.Tensor, ws: tf.Tensor) =>
      tf.relu(tf.matMul(xs, ws)).square().sum()
    )([toTensor(x), toTensor(w)]);
    return grads;
  }, TOLERANCE);
});
