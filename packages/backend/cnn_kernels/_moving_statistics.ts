// The moving-statistics inputs of the training batch norm kernel, checked
// alike on wasm (batch_norm.ts) and WebGPU (webgpu/batch_norm.ts).
import type * as tf from "@tensorflow/tfjs";

/**
 * Whether a training batch norm call (VitkdBatchNormTrain) updates the
 * moving statistics: both of them and a momentum in [0, 1], or neither
 * (else it throws).
 */
export function checkMoving(
  movingMean: tf.TensorInfo | undefined,
  movingVariance: tf.TensorInfo | undefined,
  momentum: number | undefined,
): boolean {
  const moving = movingMean !== undefined || movingVariance !== undefined;
  if (
    moving && (movingMean === undefined || movingVariance === undefined ||
      typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1))
  ) {
    throw new Error(
      `VitkdBatchNormTrain: moving statistics need both movingMean and movingVariance and a momentum in [0, 1], got ${momentum}`,
    );
  }
  return moving;
}
