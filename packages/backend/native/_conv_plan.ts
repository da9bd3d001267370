// How a 2-D convolution is planned for the native path: the plan (geometry
// of the padded input and the virtual output grid), the checks shared by the
// conv kernels, and the fallback to the wasm kernel for what the native path
// does not take. Private to the native conv kernels (conv2d.ts,
// fused_conv2d.ts, conv2d_backprop_input.ts, conv2d_backprop_filter.ts).
import * as tf from "@tensorflow/tfjs";

/**
 * How a 2-D convolution maps onto sgemm calls, one per filter tap.
 *
 * The input is zero-padded to `[n, paddedH, paddedW, c]` (paddedH a multiple
 * of the stride). Read with a row stride of `stride * c` floats, starting
 * `tapOffset` pixels in, that buffer is the matrix whose row `q` is the input
 * pixel that tap sees for output `q` of a virtual `[n, paddedH / stride,
 * paddedW]` grid. The real outputs are the `[outH, outW]` corner of each
 * virtual image; the rest is scratch that is cropped away. So no im2col
 * buffer is needed and every sgemm has `c` as its inner dimension.
 */
export interface ConvPlan {
  /** Batch size. */
  n: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Input channels. */
  c: number;
  /** Output channels. */
  outC: number;
  /** Filter height. */
  kh: number;
  /** Filter width. */
  kw: number;
  /** Stride, equal on both axes. */
  stride: number;
  /** Vertical dilation. */
  dilationH: number;
  /** Horizontal dilation. */
  dilationW: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
  /** Zero rows above the input. */
  top: number;
  /** Zero columns left of the input. */
  left: number;
  /** Padded input height, a multiple of the stride. */
  paddedH: number;
  /** Padded input width. */
  paddedW: number;
}

/**
 * Plans a convolution for the native path, or returns a reason it cannot
 * take it (NCHW, unequal strides) so the caller falls back to wasm.
 */
export function planConv(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
  dataFormat: string | undefined,
): ConvPlan | string {
  if (dataFormat !== undefined && dataFormat !== "NHWC") {
    return `data format ${dataFormat}`;
  }
  if (xShape.length !== 4 || filterShape.length !== 4) {
    return `shapes [${xShape}] and [${filterShape}] are not rank 4`;
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad as "same",
    dimRoundingMode as "floor" | undefined,
    false,
    "channelsLast",
  );
  if (info.strideHeight !== info.strideWidth) {
    return `unequal strides ${info.strideHeight}x${info.strideWidth}`;
  }
  if (info.inChannels !== filterShape[2]) {
    throw new Error(
      `conv2d: input has ${info.inChannels} channels but the filter ` +
        `[${filterShape}] expects ${filterShape[2]}`,
    );
  }
  const stride = info.strideHeight;
  const top = Math.max(0, info.padInfo.top);
  const left = Math.max(0, info.padInfo.left);
  const needH = Math.max(
    top + info.inHeight,
    stride * (info.outHeight - 1) + info.effectiveFilterHeight,
  );
  const needW = Math.max(
    left + info.inWidth,
    stride * (info.outWidth - 1) + info.effectiveFilterWidth,
  );
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    c: info.inChannels,
    outC: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    stride,
    dilationH: info.dilationHeight,
    dilationW: info.dilationWidth,
    outH: info.outHeight,
    outW: info.outWidth,
    top,
    left,
    paddedH: Math.ceil(needH / stride) * stride,
    paddedW: needW,
  };
}

export function virtualRows(plan: ConvPlan): number {
  return plan.paddedH / plan.stride;
}

export function needsPadding(plan: ConvPlan): boolean {
  return plan.top !== 0 || plan.left !== 0 || plan.paddedH !== plan.h ||
    plan.paddedW !== plan.w;
}

export function needsCrop(plan: ConvPlan): boolean {
  return plan.outH !== virtualRows(plan) || plan.outW !== plan.paddedW;
}

export function checkFloat32(op: string, ...tensors: tf.TensorInfo[]): void {
  for (const tensor of tensors) {
    if (tensor.dtype !== "float32") {
      throw new Error(
        `${op}: native path takes float32 tensors, got ${tensor.dtype} [${tensor.shape}]`,
      );
    }
  }
}

/** Whether a gradient takes the phase-split path (stride above 1, no dilation). */
export function usesPhases(plan: ConvPlan): boolean {
  return plan.stride > 1 && plan.dilationH === 1 && plan.dilationW === 1;
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * Whether the native forward convolution beats wasm's own (XNNPACK) one.
 * Measured at batch 64 on 32x32 ResNet layers: native wins on 3x3, stride 1
 * with 16+ input channels (3-6x) and, split by stride phase, on the strided
 * 3x3 ones (~2x); with few input channels the scratch work makes XNNPACK
 * faster, and XNNPACK's 1x1
 * convolution is already one matrix product (RedNet's kernel generation ran
 * slower native). The gradients always win (the wasm ones are a scalar loop
 * or composed of slices), so they always take the native path.
 */
export function nativeForwardPays(plan: ConvPlan): boolean {
  return (plan.stride === 1 || usesPhases(plan)) && plan.c >= 8 &&
    plan.kh * plan.kw > 1;
}

export function fallback(
  original: tf.KernelConfig | undefined,
  kernelName: string,
  args: KernelArgs,
  why: string,
): tf.TensorInfo {
  if (!original) {
    throw new Error(
      `${kernelName}: the native path cannot take this call (${why}) and ` +
        `the wasm backend has no ${kernelName} kernel`,
    );
  }
  return original.kernelFunc(args) as tf.TensorInfo;
}

/** The attributes every conv kernel's plan is made from. */
export interface ConvAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: unknown;
  dimRoundingMode?: unknown;
  dataFormat?: string;
}

/** `planConv` from a kernel's attributes; the gradients have no dilations. */
export function planConvFromAttrs(
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
): ConvPlan | string {
  return planConv(
    xShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    attrs.dataFormat,
  );
}

export function checkGradientShape(
  op: string,
  dy: tf.TensorInfo,
  plan: ConvPlan,
): void {
  const expected = [plan.n, plan.outH, plan.outW, plan.outC];
  if (dy.shape.some((d, i) => d !== expected[i]) || dy.shape.length !== 4) {
    throw new Error(
      `${op}: dy has shape [${dy.shape}], expected [${expected}]`,
    );
  }
}
