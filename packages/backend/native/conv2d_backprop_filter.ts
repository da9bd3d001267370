// The native `Conv2DBackpropFilter` kernel: the gradient of conv2d with
// respect to its filter through sgemm, one independent sgemm per tap.
import type * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import {
  byteOffset,
  heapBuffer,
  release,
  type WasmBackendLike,
} from "./heap.ts";
import {
  checkFloat32,
  checkGradientShape,
  type ConvPlan,
  fallback,
  planConvFromAttrs,
  usesPhases,
} from "./_conv_plan.ts";
import {
  movePhases,
  paddedInput,
  phaseGradient,
  phaseGrid,
  phaseTaps,
  taps,
  virtualGradient,
} from "./_conv_taps.ts";
import { filterGradientGroups } from "./_conv_sgemm.ts";

/** The gradient of conv2d with respect to its filter, through sgemm. */
export function nativeConv2DBackpropFilter(
  blas: Blas,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  checkFloat32("conv2DBackpropFilter", x, dy);
  if (usesPhases(plan)) {
    return phasedBackpropFilter(blas, backend, x, dy, plan);
  }
  const xp = paddedInput(backend, x, plan);
  const spread = virtualGradient(backend, dy, plan);
  const dw = backend.makeOutput(
    [plan.kh, plan.kw, plan.c, plan.outC],
    "float32",
  );
  const heap = heapBuffer(backend);
  const xOffset = byteOffset(backend, xp);
  const spreadOffset = byteOffset(backend, spread);
  const dwOffset = byteOffset(backend, dw);
  blas.sgemmGroups(
    heap,
    filterGradientGroups(plan, taps(plan), {
      input: xOffset,
      inputRowFloats: plan.stride * plan.c,
      gradient: spreadOffset,
      output: dwOffset,
    }),
  );
  if (xp !== x) release(backend, xp);
  if (spread !== dy) release(backend, spread);
  return dw;
}

function phasedBackpropFilter(
  blas: Blas,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  const grid = phaseGrid(plan);
  const s2 = plan.stride * plan.stride;
  const phases = backend.makeOutput([s2 * grid.phaseFloats], "float32");
  const spread = phaseGradient(backend, dy, plan, grid);
  const dw = backend.makeOutput(
    [plan.kh, plan.kw, plan.c, plan.outC],
    "float32",
  );
  const heap = heapBuffer(backend);
  const floats = new Float32Array(heap);
  const phasesAt = byteOffset(backend, phases) / 4;
  floats.fill(0, phasesAt, phasesAt + s2 * grid.phaseFloats);
  movePhases(floats, byteOffset(backend, x) / 4, phasesAt, plan, grid, true);
  const spreadOffset = byteOffset(backend, spread);
  const dwOffset = byteOffset(backend, dw);
  blas.sgemmGroups(
    heap,
    filterGradientGroups(plan, phaseTaps(plan, grid), {
      input: phasesAt * 4,
      inputRowFloats: plan.c,
      gradient: spreadOffset,
      output: dwOffset,
    }),
  );
  release(backend, phases);
  if (spread !== dy) release(backend, spread);
  return dw;
}

/** A `Conv2DBackpropFilter` kernel config on wasm through sgemm. */
export function nativeConv2DBackpropFilterConfig(
  blas: Blas,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: "Conv2DBackpropFilter",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as {
        x: tf.TensorInfo;
        dy: tf.TensorInfo;
      };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const plan = planConvFromAttrs(x.shape, [...attrs.filterShape], attrs);
      if (typeof plan === "string") {
        return fallback(original, "Conv2DBackpropFilter", args, plan);
      }
      checkGradientShape("Conv2DBackpropFilter", dy, plan);
      const backend = args.backend as unknown as WasmBackendLike;
      return nativeConv2DBackpropFilter(blas, backend, x, dy, plan);
    },
  };
}
