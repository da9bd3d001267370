import * as tf from "@tensorflow/tfjs";

/** A batch of normalised images the calibration runs forward. */
export interface CalibrationBatch {
  /** Normalised images. */
  x: tf.Tensor4D;
  /** Frees the batch. */
  dispose(): void;
}

interface HasMomentum {
  momentum: number;
}

function momentumLayers(model: tf.LayersModel): HasMomentum[] {
  return (model.layers as unknown as Partial<HasMomentum>[]).filter((
    layer,
  ): layer is HasMomentum => typeof layer.momentum === "number");
}

/**
 * Re-estimates the moving mean and variance of every batch-norm statistic
 * in `model` as the plain average over `batches` ("precise BN").
 *
 * Why: the moving averages use momentum 0.99, so after the few hundred
 * steps of a small run they still weigh their initial values (mean 0,
 * variance 1) heavily, and inference-mode accuracy falls far below the
 * training accuracy. Batch k is run in training mode with momentum
 * k / (k + 1), which makes the statistics the exact mean over the batches;
 * the layers' momentum is restored afterwards. Weights other than the
 * moving statistics do not change. Returns the number of layers calibrated.
 */
export async function recalibrateBatchNorm(
  model: tf.LayersModel,
  batches: AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>,
  maxBatches = Infinity,
): Promise<number> {
  const layers = momentumLayers(model);
  if (layers.length === 0) return 0;
  const original = layers.map((layer) => layer.momentum);
  let k = 0;
  try {
    for await (const batch of batches) {
      try {
        if (k >= maxBatches) break;
        for (const layer of layers) layer.momentum = k / (k + 1);
        tf.tidy(() => {
          model.apply(batch.x, { training: true });
        });
        k++;
      } finally {
        batch.dispose();
      }
    }
  } finally {
    layers.forEach((layer, i) => layer.momentum = original[i]);
  }
  return k > 0 ? layers.length : 0;
}
