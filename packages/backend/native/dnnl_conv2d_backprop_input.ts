// The oneDNN `Conv2DBackpropInput` kernel: the gradient of conv2d with
// respect to its input as one oneDNN backward-data primitive.
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
 * The gradient of conv2d with respect to its input `[n, h, w, c]` through
 * oneDNN, or why oneDNN could not run it.
 */
export function dnnlConv2DBackpropInput(
  dnnl: Dnnl,
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo | string {
  checkFloat32("conv2DBackpropInput", dy, filter);
  return runInto(
    dnnl,
    backend,
    "backwardData",
    plan,
    [plan.n, plan.h, plan.w, plan.c],
    (dx) => ({ activation: dx, filter, output: dy }),
  );
}

/** A `Conv2DBackpropInput` kernel config on wasm through oneDNN. */
export function dnnlConv2DBackpropInputConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("Conv2DBackpropInput", original, (args) => {
    const { dy, filter } = args.inputs as {
      dy: tf.TensorInfo;
      filter: tf.TensorInfo;
    };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const plan = planConvFromAttrs([...attrs.inputShape], filter.shape, attrs);
    if (typeof plan === "string") return plan;
    checkGradientShape("Conv2DBackpropInput", dy, plan);
    const backend = args.backend as unknown as WasmBackendLike;
    return dnnlConv2DBackpropInput(dnnl, backend, dy, filter, plan);
  });
}
