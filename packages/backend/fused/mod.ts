/**
 * Fused wasm kernels for the ViT student: layer norm, softmax, GELU and the
 * attention's head split/merge, each one JS loop over the wasm heap per
 * direction, with gradients registered.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { fusedKernelsActive, fusedGelu, initBackend } from "@vitkd/backend";
 *
 * await initBackend({ backend: "wasm" });
 * const x = tf.tensor([-1, 0, 1]);
 * const y = fusedKernelsActive() ? fusedGelu(x) : tf.mul(x, 1);
 * ```
 *
 * @module
 */
export * from "./ops.ts";
export * from "./register.ts";
