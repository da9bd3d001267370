import * as tf from "@tensorflow/tfjs";
import { BackendError } from "../errors.ts";
import { type Blas, type BlasStatus, openBlas } from "./blas.ts";
import { nativeConv2DConfig } from "./conv2d.ts";
import { nativeFusedConv2DConfig } from "./fused_conv2d.ts";
import { nativeConv2DBackpropInputConfig } from "./conv2d_backprop_input.ts";
import { nativeConv2DBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
import { nativeBatchMatMulConfig, nativeFusedMatMulConfig } from "./matmul.ts";
import type { BlasHelper } from "./blas_helper.ts";
import { type Dnnl, type DnnlStatus, openDnnl } from "./dnnl.ts";
import { dnnlConv2DConfig } from "./dnnl_conv2d.ts";
import { dnnlCache } from "./_dnnl_kernel.ts";
import { setRowsDnnl } from "./_dnnl_rows.ts";
import { dnnlFusedConv2DConfig } from "./dnnl_fused_conv2d.ts";
import { dnnlConv2DBackpropInputConfig } from "./dnnl_conv2d_backprop_input.ts";
import { dnnlConv2DBackpropFilterConfig } from "./dnnl_conv2d_backprop_filter.ts";
import {
  dnnlBatchMatMulConfig,
  dnnlFusedMatMulConfig,
} from "./dnnl_mat_mul.ts";
import { dnnlConv2DAddReluConfig } from "./dnnl_conv2d_add_relu.ts";
import { CONV2D_ADD_RELU } from "../cnn_kernels/conv_add_relu.ts";
import {
  dnnlAddConfig,
  dnnlAddReluConfig,
  dnnlReluGradConfig,
} from "./dnnl_add_relu.ts";
import { ADD_RELU, addReluGradient, RELU_GRAD } from "../webgpu/add_relu.ts";

/** The wasm kernels the native path replaces. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  "BatchMatMul",
  "_FusedMatMul",
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
];

/**
 * The kernels oneDNN takes when it loads, ahead of the sgemm ones (which
 * then run only what oneDNN refuses): the ones it was measured faster on
 * (docs/performance.md: "oneDNN against sgemm over taps" for the
 * convolutions; the matmuls in "2026-12-01: the ViT on oneDNN"), and the
 * residual block's end at inference (`VitkdConv2DAddRelu`, a kernel of its
 * own that only oneDNN provides), and large same-shape `Add`s and a residual
 * block's `VitkdAddRelu` and its gradient `VitkdReluGrad` in training.
 */
export const DNNL_KERNEL_NAMES: readonly string[] = [
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
  "BatchMatMul",
  "_FusedMatMul",
  CONV2D_ADD_RELU,
  "Add",
  ADD_RELU,
  RELU_GRAD,
];

type KernelFactory<Lib> = (
  lib: Lib,
  original: tf.KernelConfig | undefined,
) => tf.KernelConfig;

// One entry per kernel file: matmul.ts, conv2d.ts, fused_conv2d.ts,
// conv2d_backprop_input.ts, conv2d_backprop_filter.ts.
const FACTORIES: Record<string, KernelFactory<Blas>> = {
  BatchMatMul: (blas) => nativeBatchMatMulConfig(blas),
  _FusedMatMul: (blas) => nativeFusedMatMulConfig(blas),
  Conv2D: nativeConv2DConfig,
  FusedConv2D: nativeFusedConv2DConfig,
  Conv2DBackpropInput: nativeConv2DBackpropInputConfig,
  Conv2DBackpropFilter: nativeConv2DBackpropFilterConfig,
};

// One entry per oneDNN kernel file: dnnl_conv2d.ts, dnnl_fused_conv2d.ts,
// dnnl_conv2d_backprop_input.ts, dnnl_conv2d_backprop_filter.ts,
// dnnl_mat_mul.ts, dnnl_conv2d_add_relu.ts, dnnl_add_relu.ts.
const DNNL_FACTORIES: Record<string, KernelFactory<Dnnl>> = {
  Conv2D: dnnlConv2DConfig,
  FusedConv2D: dnnlFusedConv2DConfig,
  Conv2DBackpropInput: dnnlConv2DBackpropInputConfig,
  Conv2DBackpropFilter: dnnlConv2DBackpropFilterConfig,
  BatchMatMul: dnnlBatchMatMulConfig,
  _FusedMatMul: dnnlFusedMatMulConfig,
  [CONV2D_ADD_RELU]: dnnlConv2DAddReluConfig,
  Add: dnnlAddConfig,
  [ADD_RELU]: dnnlAddReluConfig,
  [RELU_GRAD]: dnnlReluGradConfig,
};

// The configs that were registered before ours, restored by `disable`.
let displaced: Map<string, tf.KernelConfig | undefined> | undefined;
let loaded: { blas?: Blas; status: BlasStatus } | undefined;
// The library the enabled native kernels call.
let enabled: Blas | undefined;
// The kernels oneDNN now takes first.
let dnnlEnabled: string[] = [];
let loadedDnnl: { dnnl?: Dnnl; status: DnnlStatus } | undefined;
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

/** Opens oneDNN once per process and remembers the outcome. */
export function loadNativeDnnl(): { dnnl?: Dnnl; status: DnnlStatus } {
  loadedDnnl ??= openDnnl();
  return loadedDnnl;
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

/** The kernel names oneDNN takes first, empty when it is off. */
export function dnnlKernelsEnabled(): string[] {
  return [...dnnlEnabled];
}

/**
 * What oneDNN made for each convolution it was asked to run so far: the
 * cache key (kind, shape, bias, activation) and the implementation it chose
 * (e.g. `brgconv:avx512_core`), or why it refused (that call fell back).
 */
export function dnnlConvChoices(dnnl: Dnnl): [string, string][] {
  return dnnlCache(dnnl).report();
}

/** Options for {@linkcode enableNativeKernels}. */
export interface NativeKernelOptions {
  /** oneDNN, to take the convolutions ahead of the sgemm kernels. */
  dnnl?: Dnnl;
  /** The kernels oneDNN takes; default {@linkcode DNNL_KERNEL_NAMES}. */
  dnnlKernels?: readonly string[];
}

/**
 * Replaces the wasm backend's matmul and convolution kernels with ones that
 * call `blas`, and, given `options.dnnl`, puts oneDNN's convolutions ahead of
 * those (each falls back to the kernel under it for what it does not take).
 * Without `blas` only the oneDNN kernels are registered, over wasm's own.
 * Call it after any other wasm kernel registrations: it overrides them and
 * keeps them for {@linkcode disableNativeKernels}, and calls them for the
 * cases it does not take (NCHW, unequal strides). Returns the kernels
 * replaced.
 */
export function enableNativeKernels(
  blas: Blas | undefined,
  kernels: readonly string[] = NATIVE_KERNEL_NAMES,
  options: NativeKernelOptions = {},
): string[] {
  const dnnlKernels = options.dnnl
    ? options.dnnlKernels ?? DNNL_KERNEL_NAMES
    : [];
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
  for (const name of dnnlKernels) {
    if (!(name in DNNL_FACTORIES)) {
      throw new Error(
        `enableNativeKernels: no oneDNN kernel "${name}"; expected one of ${
          DNNL_KERNEL_NAMES.join(", ")
        }`,
      );
    }
  }
  disableNativeKernels();
  const saved = new Map<string, tf.KernelConfig | undefined>();
  const layered: string[] = [];
  for (const name of new Set([...kernels, ...dnnlKernels])) {
    const original = tf.getKernel(name, "wasm");
    let config = original;
    if (blas && kernels.includes(name)) {
      config = layer(FACTORIES[name](blas, config), original);
    }
    if (options.dnnl && dnnlKernels.includes(name)) {
      config = layer(DNNL_FACTORIES[name](options.dnnl, config), original);
      layered.push(name);
    }
    if (config === original) continue;
    saved.set(name, original);
    if (original) tf.unregisterKernel(name, "wasm");
    ours.add(config!);
    tf.registerKernel(config!);
  }
  // the residual kernels' gradient, as WebGPU registers it
  if (layered.includes(ADD_RELU) && !tf.getGradient(ADD_RELU)) {
    tf.registerGradient(addReluGradient);
  }
  displaced = saved;
  enabled = blas;
  dnnlEnabled = layered;
  // the fused ViT kernels use oneDNN's row operations while its kernels are on
  setRowsDnnl(layered.length > 0 ? options.dnnl : undefined);
  return [...saved.keys()];
}

// Keeping the displaced kernel's setup lets a wasm backend that starts
// later still ready the stock wasm functions that fallbacks call.
function layer(
  config: tf.KernelConfig,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    ...config,
    setupFunc: original?.setupFunc,
    disposeFunc: original?.disposeFunc,
  };
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
  dnnlEnabled = [];
  setRowsDnnl(undefined);
}
