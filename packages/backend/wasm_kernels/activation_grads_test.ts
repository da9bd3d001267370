import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { assertAllClose, onBackend, seeded, toTensor } from "./_test_util.ts";

// Masks and one multiply: exact up to float32 rounding, rtol 0 / atol 1e-7.
const TOLERANCE = { rtol: 0, atol: 1e-7 };

// Values spread over [-8, 8] plus the edges 0 and 6 where the masks switch.
function inputs(shape: number[]): { x: tf.Tensor; dy: tf.Tensor } {
  const x = seeded(shape, 31, 8);
  x.values[0] = 0;
  x.values[1] = 6;
  x.values[2] = -0.5;
  return { x: toTensor(x), dy: toTensor(seeded(shape, 32)) };
}

for (const shape of [[7], [3, 5], [2, 4, 4, 3]]) {
  Deno.test(`ReluGrad wasm = tfjs's relu gradient on cpu, shape [${shape}]`, async () => {
    const [expected] = await onBackend("cpu", () => {
      const { x, dy } = inputs(shape);
      return tf.mul(dy, tf.step(x));
    });
    const [actual] = await onBackend("wasm", () => {
      const { x, dy } = inputs(shape);
      return tf.engine().runKernel("ReluGrad", { dy, x }) as tf.Tensor;
    });
    assertAllClose(actual, expected, TOLERANCE, "ReluGrad");
    assertEquals(actual.values[0], 0);
  });

  Deno.test(`Relu6Grad wasm = tfjs's relu6 gradient on cpu, shape [${shape}]`, async () => {
    const [expected] = await onBackend("cpu", () => {
      const { x, dy } = inputs(shape);
      return tf.grad((v: tf.Tensor) => tf.relu6(v).mul(dy).sum())(x);
    });
    const [actual] = await onBackend("wasm", () => {
      const { x, dy } = inputs(shape);
      return tf.engine().runKernel("Relu6Grad", { dy, x }) as tf.Tensor;
    });
    assertAllClose(actual, expected, TOLERANCE, "Relu6Grad");
  });
}

Deno.test("ReluGrad wasm rejects dy and x of different shapes", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  assertThrows(
    () =>
      tf.tidy(() =>
        tf.engine().runKernel("ReluGrad", {
          dy: tf.zeros([2, 3]),
          x: tf.zeros([3, 2]),
        })
      ),
    Error,
    "dy has shape [2,3] but x has [3,2]",
  );
});
