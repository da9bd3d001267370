// Parity of the oneDNN matmul kernels (BatchMatMul, _FusedMatMul) with the
// cpu backend, and that oneDNN, not a fallback, ran what it takes. Skipped,
// with the reason, where libdnnl (Debian: libdnnl2) is absent.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import {
  assertAllClose,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import { dnnlMatMulCache } from "./_dnnl_matmul.ts";
import { registerFusedKernels } from "../fused/register.ts";
import {
  disableNativeKernels,
  enableNativeKernels,
  loadNativeBlas,
  loadNativeDnnl,
} from "./register.ts";

const { dnnl, status } = loadNativeDnnl();
const ignore = !dnnl;
if (ignore) console.warn(`oneDNN matmul tests skipped: ${status.reason}`);

// Runs `compute` on cpu and on wasm with oneDNN's kernels on top and compares.
async function assertParity(
  label: string,
  shapes: number[][],
  compute: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<void> {
  const inputs = shapes.map((shape, i) => seeded(shape, 201 + i));
  const run = () => compute(...inputs.map(toTensor));
  const expected = await onBackend("cpu", run);
  await tf.setBackend("wasm");
  enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
  try {
    const actual = await onBackend("wasm", run);
    expected.forEach((e, i) =>
      assertAllClose(
        actual[i],
        e,
        { rtol: 1e-5, atol: 1e-5 },
        `${label} output ${i}`,
      )
    );
  } finally {
    disableNativeKernels();
  }
}

Deno.test({
  name:
    "oneDNN BatchMatMul = cpu: every transpose, broadcast batches, and the gradients",
  ignore,
  async fn() {
    for (
      const [ta, tb] of [[false, false], [true, false], [false, true], [
        true,
        true,
      ]]
    ) {
      const a = ta ? [3, 7, 5] : [3, 5, 7];
      const b = tb ? [3, 4, 7] : [3, 7, 4];
      await assertParity(
        `transposeA ${ta} transposeB ${tb}`,
        [a, b],
        (x, y) => {
          const f = (p: tf.Tensor, q: tf.Tensor) =>
            tf.sum(tf.matMul(p, q, ta, tb));
          return [tf.matMul(x, y, ta, tb), ...tf.grads(f)([x, y])];
        },
      );
    }
    // one operand shared by every batch
    await assertParity(
      "batch 1 x 3",
      [[1, 5, 7], [3, 7, 4]],
      (x, y) => tf.matMul(x, y),
    );
    await assertParity(
      "batch 3 x 1",
      [[3, 5, 7], [1, 7, 4]],
      (x, y) => tf.matMul(x, y),
    );
    // rank 2 (a dense layer's product) and rank 4 (attention over heads)
    await assertParity("rank 2", [[6, 9], [9, 5]], (x, y) => tf.matMul(x, y));
    await assertParity(
      "rank 4",
      [[2, 3, 5, 4], [2, 3, 4, 6]],
      (x, y) => tf.matMul(x, y),
    );
    const made = dnnlMatMulCache(dnnl!).report();
    assert(made.length >= 6, `${made}`);
    // rank 2 ran on oneDNN as a batch of one, not on the kernel underneath
    assert(made.some(([key]) => key.startsWith("1,1,6,9,5,")), `${made}`);
    for (const [key, impl] of made) {
      assert(!impl.startsWith("refused"), `${key}: ${impl}`);
    }
  },
});

Deno.test({
  name:
    "oneDNN _FusedMatMul = cpu: bias and relu fused; a bias of another shape and prelu fall back",
  ignore,
  async fn() {
    await assertParity(
      "bias + relu",
      [[8, 16], [16, 12], [12]],
      (x, w, b) => {
        const f = (p: tf.Tensor, q: tf.Tensor, c: tf.Tensor) =>
          tf.fused.matMul({
            a: p as tf.Tensor2D,
            b: q as tf.Tensor2D,
            bias: c,
            activation: "relu",
          });
        return [
          f(x, w, b),
          ...tf.grads((p: tf.Tensor, q: tf.Tensor, c: tf.Tensor) =>
            tf.sum(f(p, q, c))
          )([x, w, b]),
        ];
      },
    );
    const before = dnnlMatMulCache(dnnl!).report().length;
    // a bias per row, not per column: the sgemm kernel takes it
    await assertParity(
      "row bias",
      [[8, 16], [16, 12], [8, 1]],
      (x, w, b) =>
        tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }),
    );
    await assertParity(
      "prelu",
      [[8, 16], [16, 12], [12]],
      (x, w, p) =>
        tf.fused.matMul({
          a: x as tf.Tensor2D,
          b: w as tf.Tensor2D,
          activation: "prelu",
          preluActivationWeights: p,
        }),
    );
    // neither fallback made a oneDNN primitive
    assertEquals(dnnlMatMulCache(dnnl!).report().length, before);
  },
});

Deno.test({
  name:
    "oneDNN column sums (Sum over leading axes, as a row of ones times x) = cpu; oneDNN ran them",
  ignore,
  async fn() {
    registerFusedKernels();
    await assertParity(
      "sum over leading axes",
      [[300, 7, 24]],
      (x) => [tf.sum(x, 0), tf.sum(x, [0, 1]), tf.sum(x, [1, 0], true)],
    );
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      const keys = dnnlMatMulCache(dnnl!).report().map(([key]) => key);
      for (const [k, n] of [[300, 168], [2100, 24]]) {
        assert(
          keys.some((key) => key.startsWith(`1,1,1,${k},${n},`)),
          `no [1 x ${k}] x [${k} x ${n}] matmul among ${keys}`,
        );
      }
    } finally {
      disableNativeKernels();
    }
  },
});
