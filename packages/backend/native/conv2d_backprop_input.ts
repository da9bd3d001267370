// The native `Conv2DBackpropInput` kernel: the gradient of conv2d with
// respect to its input through sgemm.
import type * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import {
  byteOffset,
  cropImages,
  heapBuffer,
  release,
  type WasmBackendLike,
} from "./heap.ts";
import {
  checkFloat32,
  checkGradientShape,
  type ConvPlan,
  fallback,
  needsPadding,
  planConvFromAttrs,
  usesPhases,
} from "./_conv_plan.ts";
import {
  movePhases,
  phaseGradient,
  phaseGrid,
  phaseTaps,
  taps,
  virtualGradient,
} from "./_conv_taps.ts";
import { inputGradientGroups } from "./_conv_sgemm.ts";

/** The gradient of conv2d with respect to its input, through sgemm. */
export function nativeConv2DBackpropInput(
  blas: Blas,
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  checkFloat32("conv2DBackpropInput", dy, filter);
  if (usesPhases(plan)) {
    return phasedBackpropInput(blas, backend, dy, filter, plan);
  }
  const spread = virtualGradient(backend, dy, plan);
  const padded = backend.makeOutput(
    [plan.n, plan.paddedH, plan.paddedW, plan.c],
    "float32",
  );
  const heap = heapBuffer(backend);
  const paddedOffset = byteOffset(backend, padded);
  new Float32Array(heap).fill(
    0,
    paddedOffset / 4,
    paddedOffset / 4 + plan.n * plan.paddedH * plan.paddedW * plan.c,
  );
  const spreadOffset = byteOffset(backend, spread);
  const filterOffset = byteOffset(backend, filter);
  blas.sgemmGroups(
    heap,
    inputGradientGroups(
      plan,
      taps(plan),
      plan.n * plan.paddedH * plan.paddedW,
      {
        gradient: spreadOffset,
        filter: filterOffset,
        output: paddedOffset,
        step: plan.stride,
      },
    ),
  );
  if (spread !== dy) release(backend, spread);
  if (!needsPadding(plan)) return padded;
  const dx = backend.makeOutput([plan.n, plan.h, plan.w, plan.c], "float32");
  cropImages(
    new Float32Array(heapBuffer(backend)),
    byteOffset(backend, padded) / 4,
    byteOffset(backend, dx) / 4,
    plan.n,
    plan.paddedH,
    plan.paddedW,
    plan.c,
    plan.h,
    plan.w,
    plan.top,
    plan.left,
  );
  release(backend, padded);
  return dx;
}

function phasedBackpropInput(
  blas: Blas,
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  const grid = phaseGrid(plan);
  const s2 = plan.stride * plan.stride;
  const spread = phaseGradient(backend, dy, plan, grid);
  const phases = backend.makeOutput([s2 * grid.phaseFloats], "float32");
  const dx = backend.makeOutput([plan.n, plan.h, plan.w, plan.c], "float32");
  const heap = heapBuffer(backend);
  const floats = new Float32Array(heap);
  const phasesAt = byteOffset(backend, phases) / 4;
  floats.fill(0, phasesAt, phasesAt + s2 * grid.phaseFloats);
  const spreadOffset = byteOffset(backend, spread);
  const filterOffset = byteOffset(backend, filter);
  blas.sgemmGroups(
    heap,
    inputGradientGroups(
      plan,
      phaseTaps(plan, grid),
      (s2 * grid.phaseFloats) / plan.c,
      {
        gradient: spreadOffset,
        filter: filterOffset,
        output: phasesAt * 4,
        step: 1,
      },
    ),
  );
  movePhases(floats, byteOffset(backend, dx) / 4, phasesAt, plan, grid, false);
  release(backend, phases);
  if (spread !== dy) release(backend, spread);
  return dx;
}

/** A `Conv2DBackpropInput` kernel config on wasm through sgemm. */
export function nativeConv2DBackpropInputConfig(
  blas: Blas,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: "Conv2DBackpropInput",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as {
        dy: tf.TensorInfo;
        filter: tf.TensorInfo;
      };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const plan = planConvFromAttrs(
        [...attrs.inputShape],
        filter.shape,
        attrs,
      );
      if (typeof plan === "string") {
        return fallback(original, "Conv2DBackpropInput", args, plan);
      }
      checkGradientShape("Conv2DBackpropInput", dy, plan);
      const backend = args.backend as unknown as WasmBackendLike;
      return nativeConv2DBackpropInput(blas, backend, dy, filter, plan);
    },
  };
}
