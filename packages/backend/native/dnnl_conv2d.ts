// The oneDNN `Conv2D` kernel: the forward convolution as one oneDNN
// primitive on the wasm heap (NHWC input and output, HWIO filter).
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import type { WasmBackendLike } from "./heap.ts";
import type { DnnlActivation } from "./_dnnl_conv.ts";
import {
  checkFloat32,
  type ConvPlan,
  planConvFromAttrs,
} from "./_conv_plan.ts";
import { dnnlKernelConfig, runInto } from "./_dnnl_kernel.ts";

/**
 * `conv2d(x, filter)`, plus a per-channel `bias`, a `residual` of the
 * output's shape and an `activation` applied in the same primitive when
 * given, through oneDNN; returns `[n, outH, outW, outC]`, or why oneDNN
 * could not run it.
 */
export function dnnlConv2D(
  dnnl: Dnnl,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
  bias?: tf.TensorInfo,
  activation?: DnnlActivation,
  residual?: tf.TensorInfo,
): tf.TensorInfo | string {
  const optional = [bias, residual].filter((t): t is tf.TensorInfo =>
    t !== undefined
  );
  checkFloat32("conv2d", x, filter, ...optional);
  return runInto(
    dnnl,
    backend,
    "forward",
    plan,
    [plan.n, plan.outH, plan.outW, plan.outC],
    (y) => ({ activation: x, filter, output: y, bias, residual }),
    { bias: bias !== undefined, residual: residual !== undefined, activation },
  );
}

/** A `Conv2D` kernel config on wasm through oneDNN; `original` takes the rest. */
export function dnnlConv2DConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("Conv2D", original, (args) => {
    const { x, filter } = args.inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
    };
    const attrs = args.attrs as unknown as tf.Conv2DAttrs;
    const plan = planConvFromAttrs(x.shape, filter.shape, attrs);
    if (typeof plan === "string") return plan;
    const backend = args.backend as unknown as WasmBackendLike;
    return dnnlConv2D(dnnl, backend, x, filter, plan);
  });
}
