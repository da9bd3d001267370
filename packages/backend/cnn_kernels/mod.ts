/**
 * CNN training kernels for the wasm backend: batch norm and involution
 * aggregation, forward and backward, as JS loops over the wasm heap; and
 * zero-copy Identity / Cast. `initBackend` registers them on wasm.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import {
 *   fusedBatchNormTraining,
 *   hasFusedBatchNorm,
 *   initBackend,
 * } from "@vitkd/backend";
 *
 * await initBackend({ backend: "wasm" });
 * const x = tf.randomNormal([8, 4, 4, 16]);
 * if (hasFusedBatchNorm()) {
 *   const { y } = fusedBatchNormTraining(x, tf.ones([16]), tf.zeros([16]), 1e-3);
 *   y.print();
 * }
 * ```
 *
 * @module
 */
export * from "./batch_norm.ts";
export * from "./involution.ts";
export * from "./ops.ts";
export * from "./register.ts";
export { sharedCastConfig, sharedIdentityConfig } from "./shared_copies.ts";
