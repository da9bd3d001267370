import * as tf from "@tensorflow/tfjs";

/** Gradients rescaled by {@linkcode clipByGlobalNorm}, with the norm before clipping. */
export interface ClippedGradients {
  /** The (possibly rescaled) gradients, same keys as the input. */
  gradients: tf.NamedTensorMap;
  /** The global L2 norm of the input gradients. */
  globalNorm: number;
}

/**
 * Rescales all gradients by `maxNorm / max(globalNorm, maxNorm)`, where the
 * global norm is the L2 norm of every gradient concatenated. The returned
 * tensors are new; the caller disposes both the inputs and the outputs.
 */
export function clipByGlobalNorm(
  gradients: tf.NamedTensorMap,
  maxNorm: number,
): ClippedGradients {
  if (!(maxNorm > 0)) {
    throw new Error(
      `clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`,
    );
  }
  const names = Object.keys(gradients);
  if (names.length === 0) return { gradients: {}, globalNorm: 0 };
  const globalNorm = tf.tidy(() =>
    tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(gradients[n])))))
  );
  const norm = globalNorm.dataSync()[0];
  globalNorm.dispose();
  if (!Number.isFinite(norm)) {
    throw new Error(
      `clipByGlobalNorm: the gradients' global norm is ${norm} (the loss diverged)`,
    );
  }
  const scale = maxNorm / Math.max(norm, maxNorm);
  const out: tf.NamedTensorMap = {};
  for (const name of names) {
    out[name] = tf.tidy(() => tf.mul(gradients[name], scale));
  }
  return { gradients: out, globalNorm: norm };
}
