import * as tf from "@tensorflow/tfjs";
import { globalNormAndClipScale } from "@vitkd/backend";
import { DistillError } from "./errors.ts";
import type { NamedTensorMap, Scalar } from "./tf_types.ts";

/** Gradients rescaled by {@linkcode clipByGlobalNorm}, with the norm before clipping. */
export interface ClippedGradients {
  /** The (possibly rescaled) gradients, same keys as the input. */
  gradients: NamedTensorMap;
  /** The global L2 norm of the input gradients, left on the backend. */
  globalNorm: Scalar;
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
  gradients: NamedTensorMap,
  maxNorm: number,
): ClippedGradients {
  if (!(maxNorm > 0)) {
    throw new DistillError(
      `clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`,
      { code: "bad-options" },
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

/** The global norm of some gradients and the factor that clips them. */
export interface ClipScale {
  /** The global L2 norm of the gradients. */
  globalNorm: Scalar;
  /** `maxNorm / max(globalNorm, maxNorm)`: 1 below the limit. */
  scale: Scalar;
}

/**
 * The factor {@linkcode clipByGlobalNorm} would rescale by, without
 * rescaling: an optimizer that takes a gradient scale (AdamW) applies it in
 * its own update. On WebGPU the norm is one dispatch per gradient plus one.
 *
 * @param gradients The gradients, by name.
 * @param maxNorm The largest global norm let through; must be positive.
 * @returns The norm and the factor, left on the backend; the caller disposes them.
 */
export function clipScale(
  gradients: NamedTensorMap,
  maxNorm: number,
): ClipScale {
  if (!(maxNorm > 0)) {
    throw new DistillError(
      `clipScale: maxNorm must be positive, got ${maxNorm}`,
      { code: "bad-options" },
    );
  }
  const list = Object.values(gradients);
  if (
    tf.getBackend() === "webgpu" && list.every((g) => g.dtype === "float32")
  ) {
    const { norm, scale } = globalNormAndClipScale(list, maxNorm);
    return { globalNorm: norm, scale };
  }
  return tf.tidy(() => {
    const globalNorm = list.length === 0 ? tf.scalar(0) : tf.sqrt(
      tf.addN(list.map((g) => tf.sum(tf.square(g)))),
    ) as tf.Scalar;
    const scale = tf.div(maxNorm, tf.maximum(globalNorm, maxNorm)) as tf.Scalar;
    return { globalNorm, scale };
  });
}
