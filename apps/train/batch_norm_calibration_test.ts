import { assertAlmostEquals, assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { recalibrateBatchNorm } from "./batch_norm_calibration.ts";

Deno.test("recalibrateBatchNorm sets the moving statistics to the batches' average", async () => {
  await tf.setBackend("cpu");
  const input = tf.input({ shape: [2, 2, 1] });
  const bn = tf.layers.batchNormalization({ momentum: 0.99 });
  const model = tf.model({
    inputs: input,
    outputs: bn.apply(input) as tf.SymbolicTensor,
  });
  // Batch k holds the values k and k + 2: mean k + 1, variance 1.
  const batches = [0, 1, 2, 3].map((k) => {
    const x = tf.concat([
      tf.fill([1, 2, 2, 1], k),
      tf.fill([1, 2, 2, 1], k + 2),
    ]) as tf.Tensor4D;
    return { x, dispose: () => x.dispose() };
  });
  const before = tf.memory().numTensors;
  const calibrated = await recalibrateBatchNorm(model, batches);
  assertEquals(calibrated, 1);
  assertEquals(
    tf.memory().numTensors,
    before - 4,
    "the batches are disposed, nothing leaks",
  );
  const [, , movingMean, movingVariance] = bn.getWeights();
  // The plain mean of the batch means 1, 2, 3, 4.
  assertAlmostEquals(movingMean.dataSync()[0], 2.5, 1e-5);
  // Each batch's (biased) variance is 1.
  assertAlmostEquals(movingVariance.dataSync()[0], 1, 1e-5);
  assertEquals((bn as unknown as { momentum: number }).momentum, 0.99);
  model.dispose();
});

Deno.test("recalibrateBatchNorm leaves a model without batch norm alone", async () => {
  await tf.setBackend("cpu");
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 2, inputShape: [3] })],
  });
  const x = tf.zeros([1, 3]) as unknown as tf.Tensor4D;
  let disposed = 0;
  const calibrated = await recalibrateBatchNorm(model, [{
    x,
    dispose: () => disposed++,
  }]);
  assertEquals(calibrated, 0);
  assertEquals(disposed, 0);
  x.dispose();
  model.dispose();
});
