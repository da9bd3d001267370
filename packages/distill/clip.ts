import * as tf from "@tensorflow/tfjs";

/** Gradients rescaled by {@linkcode clipByGlobalNorm}, with the norm before clipping. */
export interface ClippedGradients {
  /** The (possibly rescaled) gradients, same keys as the input. */
  gradients: tf.NamedTensorMap;
  /** The global L2 norm of the input gradients, left on the backend. */
  globalNorm: tf.Scalar;
}

/**
 * Rescales all gradients by `maxNorm / max(globalNorm, maxNorm)`, where the
 * global norm is the L2 norm of every gradient concatenated. The norm stays
 * on the backend (no read): a non-finite norm makes non-finite gradients,
 * which the caller finds when it reads the norm or the loss. The returned
 * tensors are new; the caller disposes both the inputs and the outputs.
 *
 * @param gradients The gradients, by name.
 * @param maxNorm The largest global norm let through; must be positive.
 * @returns The rescaled gradients and the norm before rescaling.
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
  if (names.length === 0) {
    return { gradients: {}, globalNorm: tf.scalar(0) };
  }
  return tf.tidy(() => {
    const globalNorm = tf.sqrt(
      tf.addN(names.map((n) => tf.sum(tf.square(gradients[n])))),
    ) as tf.Scalar;
    const scale = tf.div(maxNorm, tf.maximum(globalNorm, maxNorm));
    const out: tf.NamedTensorMap = {};
    for (const name of names) out[name] = tf.mul(gradients[name], scale);
    return { gradients: out, globalNorm };
  });
}
