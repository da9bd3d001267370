import * as tf from "@tensorflow/tfjs";
import { fusedAddRelu } from "../webgpu/add_relu.ts";
import type { Tensor1D, Tensor4D } from "../tf_types.ts";

/**
 * Kernel: `relu(conv2d(x, filter) + bias + residual)`, a residual block's
 * end at inference, as one primitive (registered on wasm with oneDNN).
 */
export const CONV2D_ADD_RELU = "VitkdConv2DAddRelu";

/** The geometry of {@linkcode conv2dAddRelu}'s convolution (NHWC, HWIO filter). */
export interface Conv2dAddReluOptions {
  /** Strides along height and width. */
  strides: number | [number, number];
  /** tfjs' padding: `same` or `valid`. */
  pad: "same" | "valid";
  /** Dilations along height and width (default 1). */
  dilations?: number | [number, number];
}

/** Whether {@linkcode conv2dAddRelu} is one kernel on the active backend. */
export function hasConv2dAddRelu(): boolean {
  return tf.getKernel(CONV2D_ADD_RELU, tf.getBackend()) !== undefined;
}

/**
 * `relu(conv2d(x, filter) + bias + residual)`: one kernel where the backend
 * has it (wasm with oneDNN: the residual and the ReLU are post-ops of the
 * convolution), else `tf.fused.conv2d` and {@linkcode fusedAddRelu}, with
 * the same values up to float rounding. For inference: the one kernel has
 * no gradient.
 *
 * @param x The input `[n, h, w, c]`.
 * @param filter The filter `[kh, kw, c, outC]`.
 * @param bias The per-channel bias `[outC]`.
 * @param residual The tensor added, of the convolution's output shape.
 * @param options Strides, padding and dilations.
 * @returns The block's output, of `residual`'s shape.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { conv2dAddRelu, initBackend } from "@vitkd/backend";
 *
 * await initBackend({ backend: "cpu" });
 * const x = tf.randomNormal([1, 8, 8, 4]) as tf.Tensor4D;
 * const filter = tf.randomNormal([3, 3, 4, 4]) as tf.Tensor4D;
 * const y = conv2dAddRelu(x, filter, tf.zeros([4]), x, {
 *   strides: 1,
 *   pad: "same",
 * });
 * console.log(y.shape); // [1, 8, 8, 4]
 * ```
 */
export function conv2dAddRelu(
  x: Tensor4D,
  filter: Tensor4D,
  bias: Tensor1D,
  residual: Tensor4D,
  options: Conv2dAddReluOptions,
): Tensor4D {
  const { strides, pad } = options;
  const dilations = options.dilations ?? 1;
  const out = tf.backend_util.computeConv2DInfo(
    x.shape,
    filter.shape,
    strides,
    dilations,
    pad,
  ).outShape;
  if (!tf.util.arraysEqual(residual.shape, out)) {
    throw new Error(
      `conv2dAddRelu: residual has shape [${residual.shape}], the convolution gives [${out}]`,
    );
  }
  if (bias.shape.length !== 1 || bias.shape[0] !== out[3]) {
    throw new Error(
      `conv2dAddRelu: bias must have shape [${out[3]}], got [${bias.shape}]`,
    );
  }
  if (hasConv2dAddRelu()) {
    return tf.engine().runKernel(
      CONV2D_ADD_RELU,
      { x, filter, bias, residual },
      { strides, pad, dilations, dataFormat: "NHWC" },
    ) as Tensor4D;
  }
  return tf.tidy(() =>
    fusedAddRelu(
      tf.fused.conv2d({ x, filter, bias, strides, pad, dilations }),
      residual,
    ) as Tensor4D
  );
}
