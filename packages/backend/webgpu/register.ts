import * as tf from "@tensorflow/tfjs";
import { batchNormTrainGradient } from "../cnn_kernels/batch_norm.ts";
import { involutionGradient } from "../cnn_kernels/involution.ts";
import { involutionGradWebGpu, involutionWebGpu } from "./involution.ts";
import {
  batchNormTrainGradWebGpu,
  batchNormTrainWebGpu,
} from "./batch_norm.ts";
import { FUSED_GRADIENTS } from "../fused/ops.ts";
import { VIT_KERNELS_WEBGPU } from "./vit_kernels.ts";
import { OBJECTIVE_KERNELS_WEBGPU, objectiveGradient } from "./objective.ts";
import {
  blockReductionConfig,
  identityTransposeConfig,
  spreadRowsWebGpu,
} from "./layout_kernels.ts";
import { conv2dBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
import { smallOutputMatMulConfig } from "./small_output_matmul.ts";
import { ADD_RELU_KERNELS_WEBGPU, addReluGradient } from "./add_relu.ts";

// Stock kernels replaced by wrappers that take a faster path in some cases.
const WRAPPED: [string, (stock: tf.KernelConfig) => tf.KernelConfig][] = [
  ["Transpose", identityTransposeConfig],
  ["Sum", blockReductionConfig],
  ["Mean", blockReductionConfig],
  ["Conv2DBackpropFilter", conv2dBackpropFilterConfig],
  ["BatchMatMul", smallOutputMatMulConfig],
];

let registered: string[] | undefined;
// What our registrations displaced, put back by `unregisterWebGpuKernels`.
let displaced: tf.KernelConfig[] = [];

/**
 * Registers the toolkit's fused kernels for the webgpu backend, so the
 * models take the same fused paths they take on wasm: training batch norm
 * forward and backward (two dispatches each), involution aggregation (one
 * forward, two backward), a residual block's relu(a + b) (one each way),
 * and the ViT's layer norm,
 * softmax, GELU and token/head layouts (one or two each). Idempotent;
 * returns the kernel names.
 */
export function registerWebGpuKernels(): string[] {
  if (registered) return [...registered];
  const configs = [
    batchNormTrainWebGpu,
    batchNormTrainGradWebGpu,
    involutionWebGpu,
    involutionGradWebGpu,
    ...VIT_KERNELS_WEBGPU,
    ...OBJECTIVE_KERNELS_WEBGPU,
    ...ADD_RELU_KERNELS_WEBGPU,
    spreadRowsWebGpu,
  ];
  for (const config of configs) {
    if (!tf.getKernel(config.kernelName, "webgpu")) tf.registerKernel(config);
  }
  for (const [name, wrap] of WRAPPED) {
    const stock = tf.getKernel(name, "webgpu");
    if (!stock) continue;
    displaced.push(stock);
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(wrap(stock));
  }
  for (
    const gradient of [
      batchNormTrainGradient,
      involutionGradient,
      objectiveGradient,
      addReluGradient,
      ...FUSED_GRADIENTS,
    ]
  ) {
    if (!tf.getGradient(gradient.kernelName)) tf.registerGradient(gradient);
  }
  registered = [
    ...configs.map((c) => c.kernelName),
    ...WRAPPED.map(([n]) => n),
  ];
  return [...registered];
}

/** Removes what {@linkcode registerWebGpuKernels} registered (for before/after counts). */
export function unregisterWebGpuKernels(): void {
  for (const name of registered ?? []) {
    if (tf.getKernel(name, "webgpu")) tf.unregisterKernel(name, "webgpu");
  }
  for (const stock of displaced) {
    tf.unregisterKernel(stock.kernelName, "webgpu");
    tf.registerKernel(stock);
  }
  displaced = [];
  registered = undefined;
}
