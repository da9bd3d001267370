// The oneDNN `VitkdConv2DAddRelu` kernel: relu(conv2d(x, filter) + bias +
// residual) as one primitive, the residual added as a binary post-op before
// the ReLU one. It ends each residual block of a folded ResNet at
// inference, where the block took a convolution, an Add and a Relu kernel.
// A shape oneDNN refuses runs those three kernels instead.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import { release, runKernel, type WasmBackendLike } from "./heap.ts";
import { planConvFromAttrs } from "./_conv_plan.ts";
import { dnnlConv2D } from "./dnnl_conv2d.ts";
import { CONV2D_ADD_RELU } from "../cnn_kernels/conv_add_relu.ts";

function requireShape(
  name: string,
  tensor: tf.TensorInfo,
  expected: number[],
): void {
  if (tensor.shape.join(",") !== expected.join(",")) {
    throw new Error(
      `${CONV2D_ADD_RELU}: ${name} has shape [${tensor.shape}], expected [${expected}]`,
    );
  }
}

/** The `VitkdConv2DAddRelu` kernel config on wasm through oneDNN. */
export function dnnlConv2DAddReluConfig(dnnl: Dnnl): tf.KernelConfig {
  return {
    kernelName: CONV2D_ADD_RELU,
    backendName: "wasm",
    kernelFunc: (args) => {
      const { x, filter, bias, residual } = args.inputs as Record<
        string,
        tf.TensorInfo
      >;
      const attrs = args.attrs as unknown as tf.Conv2DAttrs;
      const backend = args.backend as unknown as WasmBackendLike;
      const plan = planConvFromAttrs(x.shape, filter.shape, attrs);
      if (typeof plan !== "string") {
        requireShape("residual", residual, [
          plan.n,
          plan.outH,
          plan.outW,
          plan.outC,
        ]);
        requireShape("bias", bias, [plan.outC]);
        const y = dnnlConv2D(
          dnnl,
          backend,
          x,
          filter,
          plan,
          bias,
          { name: "relu" },
          residual,
        );
        if (typeof y !== "string") return y;
      }
      const conv = runKernel("FusedConv2D", backend, { x, filter, bias }, {
        ...attrs,
        activation: "linear",
      });
      const sum = runKernel("Add", backend, { a: conv, b: residual });
      release(backend, conv);
      const y = runKernel("Relu", backend, { x: sum });
      release(backend, sum);
      return y;
    },
  };
}
