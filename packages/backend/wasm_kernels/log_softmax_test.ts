import * as tf from "@tensorflow/tfjs";
import { assertThrows } from "@std/assert";
import { assertAllClose, onBackend, seeded, toTensor } from "./_test_util.ts";

// exp/log of float32 values: rtol 1e-5 / atol 1e-5 per unit of logit scale,
// since x - max keeps the float32 rounding of the logits' magnitude.
function tolerance(scale: number): { rtol: number; atol: number } {
  return { rtol: 1e-5, atol: 1e-5 * Math.max(1, scale) };
}

const CASES: { shape: number[]; axis: number; scale: number }[] = [
  { shape: [4, 10], axis: -1, scale: 3 },
  { shape: [4, 10], axis: 0, scale: 3 },
  { shape: [2, 3, 5], axis: 1, scale: 2 },
  // Logits of magnitude 1000 overflow exp unless the max is subtracted first.
  { shape: [3, 6], axis: -1, scale: 1000 },
];

for (const c of CASES) {
  const name =
    `LogSoftmax wasm = tf.logSoftmax on cpu: [${c.shape}] axis ${c.axis} scale ${c.scale}`;
  Deno.test(name, async () => {
    const logits = seeded(c.shape, 41, c.scale);
    const [expected] = await onBackend(
      "cpu",
      () => {
        const x = toTensor(logits);
        return tf.sub(x, tf.logSumExp(x, c.axis, true));
      },
    );
    const [actual] = await onBackend(
      "wasm",
      () =>
        tf.engine().runKernel("LogSoftmax", { logits: toTensor(logits) }, {
          axis: c.axis,
        }) as tf.Tensor,
    );
    assertAllClose(actual, expected, tolerance(c.scale), name);
    if (actual.values.some((v) => !Number.isFinite(v))) {
      throw new Error(`${name}: non-finite output`);
    }
  });
}

Deno.test("LogSoftmax wasm names an axis out of range", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  assertThrows(
    () =>
      tf.tidy(() =>
        tf.engine().runKernel("LogSoftmax", { logits: tf.zeros([2, 3]) }, {
          axis: 2,
        })
      ),
    Error,
    "axis 2 is out of range for rank 2",
  );
});
