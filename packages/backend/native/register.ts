import * as tf from "@tensorflow/tfjs";
import { BackendError } from "../errors.ts";
import { type Blas, type BlasStatus, openBlas } from "./blas.ts";
import { nativeConv2DConfig } from "./conv2d.ts";
import { nativeFusedConv2DConfig } from "./fused_conv2d.ts";
import { nativeConv2DBackpropInputConfig } from "./conv2d_backprop_input.ts";
import { nativeConv2DBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
import { nativeBatchMatMulConfig, nativeFusedMatMulConfig } from "./matmul.ts";
import type { BlasHelper } from "./blas_helper.ts";

/** The wasm kernels the native path replaces. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  "BatchMatMul",
  "_FusedMatMul",
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
];

type KernelFactory = (
  blas: Blas,
  original: tf.KernelConfig | undefined,
) => tf.KernelConfig;

// One entry per kernel file: matmul.ts, conv2d.ts, fused_conv2d.ts,
// conv2d_backprop_input.ts, conv2d_backprop_filter.ts.
const FACTORIES: Record<string, KernelFactory> = {
  BatchMatMul: (blas) => nativeBatchMatMulConfig(blas),
  _FusedMatMul: (blas) => nativeFusedMatMulConfig(blas),
  Conv2D: nativeConv2DConfig,
  FusedConv2D: nativeFusedConv2DConfig,
  Conv2DBackpropInput: nativeConv2DBackpropInputConfig,
  Conv2DBackpropFilter: nativeConv2DBackpropFilterConfig,
};

// The configs that were registered before ours, restored by `disable`.
let displaced: Map<string, tf.KernelConfig | undefined> | undefined;
let loaded: { blas?: Blas; status: BlasStatus } | undefined;
// The library the enabled native kernels call.
let enabled: Blas | undefined;
const ours = new WeakSet<tf.KernelConfig>();

/** Whether the kernel now registered on wasm under `kernelName` is native. */
export function isNativeKernel(kernelName: string): boolean {
  const config = tf.getKernel(kernelName, "wasm");
  return config !== undefined && ours.has(config);
}

/** Opens the native BLAS once per process and remembers the outcome. */
export function loadNativeBlas(): { blas?: Blas; status: BlasStatus } {
  loaded ??= openBlas();
  return loaded;
}

/**
 * The helper thread of the BLAS the native kernels call, while they are
 * enabled and it takes work: other wasm kernels (the fused ViT loops) share
 * their loops with it. Undefined when the native path is off, has no helper
 * (`VITKD_BLAS_HELPER=0`, one core) or the helper stopped.
 */
export function activeHelper(): BlasHelper | undefined {
  return displaced ? enabled?.helper : undefined;
}

/** The kernel names the native path has replaced, empty when it is off. */
export function nativeKernelsEnabled(): string[] {
  return displaced ? [...displaced.keys()] : [];
}

/**
 * Replaces the wasm backend's matmul and convolution kernels with ones that
 * call `blas`. Call it after any other wasm kernel registrations: it
 * overrides them and keeps them for {@linkcode disableNativeKernels}, and
 * calls them for the cases it does not take (NCHW, unequal strides).
 * Returns the kernels replaced.
 */
export function enableNativeKernels(
  blas: Blas,
  kernels: readonly string[] = NATIVE_KERNEL_NAMES,
): string[] {
  for (const name of kernels) {
    if (!(name in FACTORIES)) {
      throw new BackendError(
        `enableNativeKernels: no native kernel "${name}"; expected one of ${
          NATIVE_KERNEL_NAMES.join(", ")
        }`,
        { code: "bad-option" },
      );
    }
  }
  disableNativeKernels();
  const saved = new Map<string, tf.KernelConfig | undefined>();
  for (const name of kernels) {
    const original = tf.getKernel(name, "wasm");
    saved.set(name, original);
    if (original) tf.unregisterKernel(name, "wasm");
    // Keeping the displaced kernel's setup lets a wasm backend that starts
    // later still ready the stock wasm functions that fallbacks call.
    const config: tf.KernelConfig = {
      ...FACTORIES[name](blas, original),
      setupFunc: original?.setupFunc,
      disposeFunc: original?.disposeFunc,
    };
    ours.add(config);
    tf.registerKernel(config);
  }
  displaced = saved;
  enabled = blas;
  return [...saved.keys()];
}

/** Puts back the wasm kernels the native path replaced; a no-op when off. */
export function disableNativeKernels(): void {
  if (!displaced) return;
  for (const [name, original] of displaced) {
    if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
    if (original) tf.registerKernel(original);
  }
  displaced = undefined;
  enabled = undefined;
}
