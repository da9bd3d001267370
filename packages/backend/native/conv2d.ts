// The native `Conv2D` kernel: the forward convolution through sgemm, one
// call per filter tap (stride-phase split for strides above 1).
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import {
  byteOffset,
  cropImages,
  fillRows,
  heapBuffer,
  release,
  runKernel,
  type WasmBackendLike,
} from "./heap.ts";
import {
  checkFloat32,
  type ConvPlan,
  fallback,
  nativeForwardPays,
  needsCrop,
  planConvFromAttrs,
  usesPhases,
  virtualRows,
} from "./_conv_plan.ts";
import {
  movePhases,
  paddedInput,
  phaseGrid,
  phaseTaps,
  taps,
} from "./_conv_taps.ts";
import { forwardGroups } from "./_conv_sgemm.ts";

/** `conv2d(x, filter) (+ bias)` through sgemm; returns `[n, outH, outW, outC]`. */
export function nativeConv2D(
  blas: Blas,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  checkFloat32("conv2d", x, filter);
  if (usesPhases(plan)) {
    return phasedConv2D(blas, backend, x, filter, plan, bias);
  }
  const xp = paddedInput(backend, x, plan);
  const grid = backend.makeOutput(
    [plan.n, virtualRows(plan), plan.paddedW, plan.outC],
    "float32",
  );
  const rows = plan.n * virtualRows(plan) * plan.paddedW;
  const heap = heapBuffer(backend);
  const gridOffset = byteOffset(backend, grid);
  let beta = 0;
  const fusedBias = bias !== undefined &&
    tf.util.sizeFromShape(bias.shape) === plan.outC;
  if (fusedBias) {
    const floats = new Float32Array(heap);
    const start = byteOffset(backend, bias!) / 4;
    fillRows(
      floats,
      gridOffset / 4,
      floats.slice(start, start + plan.outC),
      rows,
    );
    beta = 1;
  }
  const xOffset = byteOffset(backend, xp);
  const filterOffset = byteOffset(backend, filter);
  blas.sgemmGroups(
    heap,
    forwardGroups(plan, taps(plan), rows, {
      input: xOffset,
      inputRowFloats: plan.stride * plan.c,
      filter: filterOffset,
      output: gridOffset,
      beta,
    }),
  );
  if (xp !== x) release(backend, xp);
  let y = grid;
  if (needsCrop(plan)) {
    y = backend.makeOutput(
      [plan.n, plan.outH, plan.outW, plan.outC],
      "float32",
    );
    cropImages(
      new Float32Array(heapBuffer(backend)),
      byteOffset(backend, grid) / 4,
      byteOffset(backend, y) / 4,
      plan.n,
      virtualRows(plan),
      plan.paddedW,
      plan.outC,
      plan.outH,
      plan.outW,
      0,
      0,
    );
    release(backend, grid);
  }
  if (bias !== undefined && !fusedBias) {
    const sum = runKernel("Add", backend, { a: y, b: bias });
    release(backend, y);
    return sum;
  }
  return y;
}

function phasedConv2D(
  blas: Blas,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  plan: ConvPlan,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const grid = phaseGrid(plan);
  const s2 = plan.stride * plan.stride;
  const phases = backend.makeOutput([s2 * grid.phaseFloats], "float32");
  const out = backend.makeOutput(
    [plan.n, grid.rows, grid.cols, plan.outC],
    "float32",
  );
  const heap = heapBuffer(backend);
  const floats = new Float32Array(heap);
  const phasesAt = byteOffset(backend, phases) / 4;
  floats.fill(0, phasesAt, phasesAt + s2 * grid.phaseFloats);
  movePhases(floats, byteOffset(backend, x) / 4, phasesAt, plan, grid, true);
  const outOffset = byteOffset(backend, out);
  let beta = 0;
  const fusedBias = bias !== undefined &&
    tf.util.sizeFromShape(bias.shape) === plan.outC;
  if (fusedBias) {
    const start = byteOffset(backend, bias!) / 4;
    fillRows(
      floats,
      outOffset / 4,
      floats.slice(start, start + plan.outC),
      plan.n * grid.rows * grid.cols,
    );
    beta = 1;
  }
  const filterOffset = byteOffset(backend, filter);
  // The first tap has no shift, so it covers (and with beta 0 initialises)
  // every row of the grid.
  blas.sgemmGroups(
    heap,
    forwardGroups(
      plan,
      phaseTaps(plan, grid),
      plan.n * grid.rows * grid.cols,
      {
        input: phasesAt * 4,
        inputRowFloats: plan.c,
        filter: filterOffset,
        output: outOffset,
        beta,
      },
    ),
  );
  release(backend, phases);
  let y = out;
  if (grid.rows !== plan.outH || grid.cols !== plan.outW) {
    y = backend.makeOutput(
      [plan.n, plan.outH, plan.outW, plan.outC],
      "float32",
    );
    cropImages(
      new Float32Array(heapBuffer(backend)),
      byteOffset(backend, out) / 4,
      byteOffset(backend, y) / 4,
      plan.n,
      grid.rows,
      grid.cols,
      plan.outC,
      plan.outH,
      plan.outW,
      0,
      0,
    );
    release(backend, out);
  }
  if (bias !== undefined && !fusedBias) {
    const sum = runKernel("Add", backend, { a: y, b: bias });
    release(backend, y);
    return sum;
  }
  return y;
}

/** A `Conv2D` kernel config on wasm; calls `original` for what it can't take. */
export function nativeConv2DConfig(
  blas: Blas,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: "Conv2D",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { x, filter } = args.inputs as {
        x: tf.TensorInfo;
        filter: tf.TensorInfo;
      };
      const attrs = args.attrs as unknown as tf.Conv2DAttrs;
      const plan = planConvFromAttrs(x.shape, filter.shape, attrs);
      if (typeof plan === "string") {
        return fallback(original, "Conv2D", args, plan);
      }
      if (original && !nativeForwardPays(plan)) {
        return original.kernelFunc(args) as tf.TensorInfo;
      }
      const backend = args.backend as unknown as WasmBackendLike;
      return nativeConv2D(blas, backend, x, filter, plan);
    },
  };
}
