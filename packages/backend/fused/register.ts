import * as tf from "@tensorflow/tfjs";
import { adamwStepConfig } from "./adamw_kernel.ts";
import { movingAveragesConfig } from "./moving_average_kernel.ts";
import { spreadRowsConfig } from "./spread_rows_kernel.ts";
import { layerNormConfig, layerNormGradConfig } from "./layer_norm_kernels.ts";
import { leadingSumConfig, spatialMeanConfig } from "./leading_sum.ts";
import { FUSED_GRADIENTS } from "./ops.ts";
import {
  geluConfig,
  geluGradConfig,
  softmaxConfig,
  softmaxGradConfig,
} from "./softmax_gelu_kernels.ts";
import {
  headsToTokensConfig,
  padTokensConfig,
  sliceTokensConfig,
  tokensToHeadsConfig,
} from "./token_kernels.ts";
import type { KernelConfig } from "../tf_types.ts";

/** The fused ViT kernels, all for the wasm backend. */
export const FUSED_KERNEL_CONFIGS: readonly KernelConfig[] = [
  layerNormConfig,
  layerNormGradConfig,
  softmaxConfig,
  softmaxGradConfig,
  geluConfig,
  geluGradConfig,
  tokensToHeadsConfig,
  headsToTokensConfig,
  sliceTokensConfig,
  padTokensConfig,
  adamwStepConfig,
  movingAveragesConfig,
  spreadRowsConfig,
];

let registered = false;

/**
 * Registers the fused ViT kernels on wasm and their gradients: plain JS
 * loops over the wasm heap for layer norm, softmax, GELU and the attention's
 * head split/merge, each a chain of several stock kernels (and, for the head
 * layout, rank-4 transposes and strided slices, which are slow on wasm).
 * Also wraps wasm `Sum` so that sums over leading axes (bias gradients) run
 * as one pass of column sums, and wasm `Mean` so that means over the middle
 * axes (global average pools) do too. Idempotent. Returns the fused kernel names.
 */
export function registerFusedKernels(): string[] {
  if (!registered) {
    for (const config of FUSED_KERNEL_CONFIGS) {
      if (!tf.getKernel(config.kernelName, config.backendName)) {
        tf.registerKernel(config);
      }
    }
    // Wraps whatever Sum is registered (stock wasm); other cases go to it.
    const sum = tf.getKernel("Sum", "wasm");
    if (sum) {
      tf.unregisterKernel("Sum", "wasm");
      tf.registerKernel(leadingSumConfig(sum));
    }
    const mean = tf.getKernel("Mean", "wasm");
    if (mean) {
      tf.unregisterKernel("Mean", "wasm");
      tf.registerKernel(spatialMeanConfig(mean));
    }
    for (const grad of FUSED_GRADIENTS) {
      if (!tf.getGradient(grad.kernelName)) tf.registerGradient(grad);
    }
    registered = true;
  }
  return FUSED_KERNEL_CONFIGS.map((c) => c.kernelName);
}
