// The oneDNN `FusedConv2D` kernel: the convolution of dnnl_conv2d.ts with a
// per-channel bias and the activation (relu, relu6, elu, sigmoid, leaky
// relu) in the same primitive; any other bias or prelu is applied after it
// by the wasm backend's own kernels.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import {
  applyActivation,
  release,
  runKernel,
  type WasmBackendLike,
} from "./heap.ts";
import { type DnnlActivation, eltwiseFor } from "./_dnnl_conv.ts";
import { planConvFromAttrs } from "./_conv_plan.ts";
import { dnnlKernelConfig } from "./_dnnl_kernel.ts";
import { dnnlConv2D } from "./dnnl_conv2d.ts";

/** A `FusedConv2D` kernel config on wasm through oneDNN, bias and activation fused. */
export function dnnlFusedConv2DConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("FusedConv2D", original, (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    const plan = planConvFromAttrs(x.shape, filter.shape, attrs);
    if (typeof plan === "string") return plan;
    const backend = args.backend as unknown as WasmBackendLike;
    const name = attrs.activation ?? "linear";
    const activation: DnnlActivation | undefined = name === "linear"
      ? undefined
      : { name, alpha: attrs.leakyreluAlpha };
    const channelBias = bias != null &&
      bias.shape.reduce((n, d) => n * d, 1) === plan.outC;
    const fused = activation === undefined ||
      eltwiseFor(activation) !== undefined;
    if ((bias == null || channelBias) && fused) {
      // Everything in one primitive.
      return dnnlConv2D(
        dnnl,
        backend,
        x,
        filter,
        plan,
        bias ?? undefined,
        activation,
      );
    }
    // prelu, or a bias of another shape (added before the activation).
    const y = dnnlConv2D(
      dnnl,
      backend,
      x,
      filter,
      plan,
      channelBias ? bias : undefined,
    );
    if (typeof y === "string") return y;
    let z = y;
    if (bias != null && !channelBias) {
      z = runKernel("Add", backend, { a: y, b: bias });
      release(backend, y);
    }
    return applyActivation(
      backend,
      z,
      name,
      preluActivationWeights ?? undefined,
      attrs.leakyreluAlpha,
    );
  });
}
