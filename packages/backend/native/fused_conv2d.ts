// The native `FusedConv2D` kernel: the sgemm convolution of conv2d.ts with
// the bias added in the sgemm and the activation applied after.
import type * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { applyActivation, type WasmBackendLike } from "./heap.ts";
import {
  fallback,
  nativeForwardPays,
  planConvFromAttrs,
} from "./_conv_plan.ts";
import { nativeConv2D } from "./conv2d.ts";

/** A `FusedConv2D` kernel config on wasm: sgemm conv, bias, activation. */
export function nativeFusedConv2DConfig(
  blas: Blas,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: "FusedConv2D",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { x, filter, bias, preluActivationWeights } = args.inputs as {
        x: tf.TensorInfo;
        filter: tf.TensorInfo;
        bias?: tf.TensorInfo;
        preluActivationWeights?: tf.TensorInfo;
      };
      const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
      const plan = planConvFromAttrs(x.shape, filter.shape, attrs);
      if (typeof plan === "string") {
        return fallback(original, "FusedConv2D", args, plan);
      }
      if (original && !nativeForwardPays(plan)) {
        return original.kernelFunc(args) as tf.TensorInfo;
      }
      const backend = args.backend as unknown as WasmBackendLike;
      const y = nativeConv2D(
        blas,
        backend,
        x,
        filter,
        plan,
        bias ?? undefined,
      );
      return applyActivation(
        backend,
        y,
        attrs.activation,
        preluActivationWeights ?? undefined,
        attrs.leakyreluAlpha,
      );
    },
  };
}
