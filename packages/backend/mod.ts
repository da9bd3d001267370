/**
 * Readies tfjs for training on this machine: picks WebGPU, wasm or cpu, and
 * completes the wasm backend with the gradient kernels it lacks.
 *
 * ```ts
 * import { describeBackend, initBackend } from "@vitkd/backend";
 *
 * const info = await initBackend({ backend: "auto" });
 * console.log(describeBackend(info));
 * ```
 *
 * The root export is what a trainer needs: choosing and readying a backend,
 * the fused operations the models call (each a single kernel where the
 * backend has one), and the in-place GPU updates of the optimizer and batch
 * norm. The kernels themselves and their registration are under
 * `@vitkd/backend/kernels`; the native BLAS path under
 * `@vitkd/backend/native`.
 *
 * @module
 */
export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  describeBackend,
  initBackend,
  type InitBackendOptions,
} from "./init.ts";
export {
  BackendError,
  type BackendErrorCode,
  type BackendErrorOptions,
} from "./errors.ts";
export {
  fusedBatchNormTraining,
  fusedInvolution,
  hasFusedBatchNorm,
  hasFusedInvolution,
} from "./cnn_kernels/ops.ts";
export type { InvolutionAttrs } from "./cnn_kernels/involution.ts";
export {
  CONV2D_ADD_RELU,
  conv2dAddRelu,
  type Conv2dAddReluOptions,
  hasConv2dAddRelu,
} from "./cnn_kernels/conv_add_relu.ts";
export type { AdamWStepConstants } from "./fused/adamw_kernel.ts";
export {
  fusedAdamWStep,
  fusedGelu,
  fusedKernelsActive,
  fusedLayerNorm,
  fusedSoftmax,
  hasFusedAdamW,
  headsToTokens,
  padTokens,
  sliceTokens,
  tokensToHeads,
} from "./fused/ops.ts";
export {
  type AdamWItem,
  type AdamWUpdateConstants,
  adamwUpdatePackedInPlace,
  adamwVariablesPerDispatch,
  canUpdateInPlace,
  ownBufferCopy,
} from "./webgpu/adamw_update.ts";
export { fusedAddRelu, hasFusedAddRelu } from "./webgpu/add_relu.ts";
export { globalNormAndClipScale } from "./webgpu/global_norm.ts";
export {
  hasMovingAverages,
  MOVING_AVERAGES,
  movingAverages,
} from "./fused/moving_average_kernel.ts";
export { movingAveragesInPlace } from "./webgpu/moving_average.ts";
export {
  fusedObjective,
  hasFusedObjective,
  type ObjectiveAttrs,
} from "./webgpu/objective.ts";
export {
  type CountOptions,
  countWebGpuWork,
  type WebGpuWork,
} from "./webgpu/work_counter.ts";
export * from "./tf_types.ts";
