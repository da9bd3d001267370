// The oneDNN `Conv2DBackpropFilter` kernel: the gradient of conv2d with
// respect to its filter as one oneDNN backward-weights primitive, reordered
// from the library's blocked layout into tfjs' HWIO.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import type { WasmBackendLike } from "./heap.ts";
import {
  checkFloat32,
  checkGradientShape,
  type ConvPlan,
  planConvFromAttrs,
} from "./_conv_plan.ts";
import { dnnlKernelConfig, runInto } from "./_dnnl_kernel.ts";

/**
 * The gradient of conv2d with respect to its filter `[kh, kw, c, outC]`
 * through oneDNN, or why oneDNN could not run it.
 */
export function dnnlConv2DBackpropFilter(
  dnnl: Dnnl,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo | string {
  checkFloat32("conv2DBackpropFilter", x, dy);
  return runInto(
    dnnl,
    backend,
    "backwardWeights",
    plan,
    [plan.kh, plan.kw, plan.c, plan.outC],
    (dw) => ({ activation: x, filter: dw, output: dy }),
  );
}

/** A `Conv2DBackpropFilter` kernel config on wasm through oneDNN. */
export function dnnlConv2DBackpropFilterConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("Conv2DBackpropFilter", original, (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const plan = planConvFromAttrs(x.shape, [...attrs.filterShape], attrs);
    if (typeof plan === "string") return plan;
    checkGradientShape("Conv2DBackpropFilter", dy, plan);
    const backend = args.backend as unknown as WasmBackendLike;
    return dnnlConv2DBackpropFilter(dnnl, backend, x, dy, plan);
  });
}
