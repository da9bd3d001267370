import * as tf from "@tensorflow/tfjs";
import {
  batchNormInferenceConfig,
  batchNormTrainConfig,
  batchNormTrainGradConfig,
  batchNormTrainGradient,
} from "./batch_norm.ts";
import { WASM } from "./heap_view.ts";
import {
  involutionConfig,
  involutionGradConfig,
  involutionGradient,
} from "./involution.ts";
import {
  contiguousSliceConfig,
  sharedCastConfig,
  sharedIdentityConfig,
} from "./shared_copies.ts";

let registered: string[] | undefined;
// What our registrations displaced, put back by `unregisterCnnKernels`.
let displaced: Map<string, tf.KernelConfig | undefined> | undefined;

/**
 * Registers the CNN training kernels on wasm: batch norm and involution
 * aggregation forward and backward as JS loops over the wasm heap (with
 * their gradients), inference batch norm (`FusedBatchNorm`) as one pass,
 * zero-copy `Identity` / same-dtype `Cast` / whole-tensor `Slice`, and
 * contiguous slices as one copy.
 * Idempotent; returns the kernel names registered or replaced.
 */
export function registerCnnKernels(): string[] {
  if (registered) return [...registered];
  const stockCast = tf.getKernel("Cast", WASM);
  const stockBatchNorm = tf.getKernel("FusedBatchNorm", WASM);
  const stockSlice = tf.getKernel("Slice", WASM);
  const configs = [
    batchNormTrainConfig,
    batchNormTrainGradConfig,
    involutionConfig,
    involutionGradConfig,
    sharedIdentityConfig(),
    ...(stockCast ? [sharedCastConfig(stockCast)] : []),
    ...(stockBatchNorm ? [batchNormInferenceConfig(stockBatchNorm)] : []),
    ...(stockSlice ? [contiguousSliceConfig(stockSlice)] : []),
  ];
  displaced = new Map();
  for (const config of configs) {
    const old = tf.getKernel(config.kernelName, WASM);
    displaced.set(config.kernelName, old);
    if (old) {
      tf.unregisterKernel(config.kernelName, WASM);
      config.setupFunc ??= old.setupFunc;
      config.disposeFunc ??= old.disposeFunc;
    }
    tf.registerKernel(config);
  }
  for (const gradient of [batchNormTrainGradient, involutionGradient]) {
    if (!tf.getGradient(gradient.kernelName)) tf.registerGradient(gradient);
  }
  registered = configs.map((c) => c.kernelName);
  return [...registered];
}

/**
 * Puts back the wasm kernels {@linkcode registerCnnKernels} replaced and
 * removes the ones it added (models then take their composed paths); for
 * before/after measurements. A no-op when nothing is registered.
 */
export function unregisterCnnKernels(): void {
  if (!displaced) return;
  for (const [name, old] of displaced) {
    if (tf.getKernel(name, WASM)) tf.unregisterKernel(name, WASM);
    if (old) tf.registerKernel(old);
  }
  displaced = undefined;
  registered = undefined;
}
