import * as tf from "@tensorflow/tfjs";
import { relu6GradConfig, reluGradConfig } from "./activation_grads.ts";
import { explicitTransposeMatMul } from "./batch_mat_mul.ts";
import { conv2dBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
import { conv2dBackpropInputConfig } from "./conv2d_backprop_input.ts";
import { WASM, wasmKernel } from "./kernel_util.ts";
import { logSoftmaxConfig } from "./log_softmax.ts";

let registered: string[] | undefined;

/**
 * Completes the tfjs wasm backend for training the project's models, built
 * only from the wasm backend's own kernels (never a fallback to cpu).
 *
 * Added, because stock wasm (tfjs 4.22) lacks them:
 * - `Conv2DBackpropFilter`: the filter gradient of every convolution, as
 *   one XNNPACK convolution of x (channels as batch) with dy as a filter
 *   dilated by the stride; a plain matmul for 1x1 stride-1 filters.
 * - `ReluGrad`, `Relu6Grad`, `LogSoftmax`: TensorFlow kernel names that
 *   tfjs 4.22 itself composes from other ops; registered so that code calling
 *   them by name (e.g. `tf.engine().runKernel("LogSoftmax", ...)`) also runs.
 *
 * Replaced, because the stock kernel is a scalar loop:
 * - `Conv2DBackpropInput`: the input gradient of a convolution, now one
 *   XNNPACK convolution of dy per stride phase with that phase's flipped
 *   filter taps, interleaved.
 * - `BatchMatMul`, `_FusedMatMul`: transposed operands (every dense and
 *   attention gradient) are transposed explicitly, then the fast plain
 *   product runs. A batched `_FusedMatMul`
 *   with a bias runs as product + add + activation: stock wasm adds the
 *   bias to the wrong rows there.
 *
 * Every other kernel a conv net with batch norm, an involution network or a
 * transformer block (and Adam, `tf.losses.softmaxCrossEntropy`) needs forward
 * and backward is already in stock wasm; `register_test.ts` trains each of
 * them on wasm against cpu to prove it. Call this before any native BLAS
 * kernels are enabled: those displace these and fall back to them.
 *
 * Idempotent: later calls register nothing and return the same names.
 *
 * @returns the kernel names registered or replaced for `wasm`.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered) return [...registered];
  const replacements = [
    explicitTransposeMatMul(wasmKernel("BatchMatMul")),
    explicitTransposeMatMul(wasmKernel("_FusedMatMul")),
    keepStockSetup(conv2dBackpropInputConfig),
  ];
  const additions = [
    conv2dBackpropFilterConfig,
    reluGradConfig,
    relu6GradConfig,
    logSoftmaxConfig,
  ];
  for (const config of [...replacements, ...additions]) {
    // tfjs warns when a kernel is re-registered; replacing is the point here.
    if (tf.getKernel(config.kernelName, WASM)) {
      tf.unregisterKernel(config.kernelName, WASM);
    }
    tf.registerKernel(config);
  }
  registered = [...replacements, ...additions].map((c) => c.kernelName);
  return [...registered];
}

/**
 * A replacement keeps the stock kernel's setup so that an engine that starts
 * the wasm backend later still readies the stock wasm function it replaced.
 */
function keepStockSetup(config: tf.KernelConfig): tf.KernelConfig {
  const stock = wasmKernel(config.kernelName);
  return {
    ...config,
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
  };
}
