import * as tf from "@tensorflow/tfjs";
import type { TensorInfo } from "./kernel_util.ts";

/** The attributes both convolution gradient kernels share. */
export interface ConvGradientAttrs {
  strides: [number, number] | number;
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** Rejects what the wasm composition does not cover, naming the kernel. */
export function assertChannelsLast(kernel: string, dataFormat: string): void {
  if (dataFormat !== "NHWC") {
    throw new Error(
      `wasm ${kernel}: dataFormat "${dataFormat}" is not supported, expected "NHWC"`,
    );
  }
}

/**
 * The convolution geometry of a gradient kernel, after checking that it is
 * channels-last and that `dy` has the forward output's shape.
 */
export function convGradientInfo(
  kernel: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvGradientAttrs,
  dy: TensorInfo,
): tf.backend_util.Conv2DInfo {
  assertChannelsLast(kernel, attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const expected = [
    info.batchSize,
    info.outHeight,
    info.outWidth,
    info.outChannels,
  ];
  if (expected.some((d, i) => dy.shape[i] !== d)) {
    throw new Error(
      `wasm ${kernel}: dy has shape [${dy.shape}], expected [${expected}]`,
    );
  }
  return info;
}
