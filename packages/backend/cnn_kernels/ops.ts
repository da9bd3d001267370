import * as tf from "@tensorflow/tfjs";
import { BATCH_NORM_TRAIN } from "./batch_norm.ts";
import { canUpdateInPlace } from "../webgpu/adamw_update.ts";
import { INVOLUTION, type InvolutionAttrs } from "./involution.ts";
import type { Tensor, Tensor4D } from "../tf_types.ts";

/** Whether the active backend has the kernel `name` (e.g. a CNN kernel). */
export function backendHasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Whether {@linkcode fusedBatchNormTraining} runs on the active backend. */
export function hasFusedBatchNorm(): boolean {
  return backendHasKernel(BATCH_NORM_TRAIN);
}

/** Whether {@linkcode fusedInvolution} runs on the active backend. */
export function hasFusedInvolution(): boolean {
  return backendHasKernel(INVOLUTION);
}

// Whether each tensor has a wasm heap buffer of its own (no other tensor
// shares it): written in place, no other value changes. Only for tensors no
// caching kernel reads: tfjs-wasm's XNNPACK convolutions keep a filter packed
// per data id, and a weight written in place would leave them a stale copy
// (AdamW in place diverged a training run with oneDNN off, so the weights
// get new tensors; the moving statistics are read by no such kernel).
function unsharedOnWasm(tensors: Tensor[]): boolean {
  if (tf.getBackend() !== "wasm") return false;
  const backend = tf.backend() as unknown as {
    refCount(dataId: object): number;
  };
  return tensors.every((t) => backend.refCount(t.dataId) === 1);
}

/**
 * Moving statistics a training batch norm updates in place, from the same
 * dispatch that computes the batch's: `moving <- moving - (moving - batch) ·
 * (1 - momentum)` for the mean and the (biased) variance.
 */
export interface MovingStatistics {
  /** The moving mean `[C]`, written in place. */
  mean: Tensor;
  /** The moving variance `[C]`, written in place. */
  variance: Tensor;
  /** The weight of the old values. */
  momentum: number;
}

/**
 * Training batch norm over every axis but the last, as one kernel forward
 * and one backward. The gradient flows through `y` only (`mean` and
 * `variance` are for the moving statistics; dx already accounts for their
 * dependence on x). With `relu`, `y` is `max(bn(x), 0)` in the same pass
 * (and its gradient masked in the same backward). Throws when the backend
 * lacks the kernel; check {@linkcode hasFusedBatchNorm}.
 *
 * With `moving`, the backend's kernel also updates the moving statistics in
 * place where it can (WebGPU and wasm, when no other tensor shares their
 * buffers): `movingUpdated` says whether it did; when false the caller
 * updates them.
 */
export function fusedBatchNormTraining(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
  relu = false,
  moving?: MovingStatistics,
): { y: Tensor; mean: Tensor; variance: Tensor; movingUpdated: boolean } {
  const inPlace = moving !== undefined &&
    (canUpdateInPlace([moving.mean, moving.variance]) ||
      unsharedOnWasm([moving.mean, moving.variance]));
  const [y, mean, variance, ...forGradient] = tf.engine().runKernel(
    BATCH_NORM_TRAIN,
    inPlace
      ? {
        x,
        gamma,
        beta,
        movingMean: moving.mean,
        movingVariance: moving.variance,
      }
      : { x, gamma, beta },
    inPlace ? { epsilon, relu, momentum: moving.momentum } : { epsilon, relu },
  ) as tf.Tensor[];
  // The gradient keeps its own references to invStd (and on wasm the ReLU
  // mask).
  tf.dispose(forGradient);
  return { y, mean, variance, movingUpdated: inPlace };
}

/**
 * Involution aggregation: `y[n,i,j,c] = sum_{u,v} kernels[n,i,j,(u·K+v)·G +
 * g(c)] · x[n, s·i+u-p, s·j+v-p, c]` (zero padding p = (K-1)/2), forward and
 * backward as one kernel each. x is `[N, H, W, C]`, kernels `[N, ceil(H/s),
 * ceil(W/s), K·K·G]`.
 */
export function fusedInvolution(
  x: Tensor4D,
  kernels: Tensor4D,
  attrs: InvolutionAttrs,
): Tensor4D {
  return tf.engine().runKernel(
    INVOLUTION,
    { x, kernels },
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
}
