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
  const beta = fillBias(backend, bias, plan, grid, rows);
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
  return finish(backend, grid, plan, bias, beta === 1);
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
  const beta = fillBias(
    backend,
    bias,
    plan,
    out,
    plan.n * grid.rows * grid.cols,
  );
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
  return finish(backend, out, plan, bias, beta === 1);
}

/**
 * Writes the bias into every row of `output` when it is one value per output
 * channel, so the first tap's sgemm adds onto it; returns that sgemm's beta
 * (1 when the bias is in, 0 when `finish` must add it).
 */
function fillBias(
  backend: WasmBackendLike,
  bias: tf.TensorInfo | undefined,
  plan: ConvPlan,
  output: tf.TensorInfo,
  rows: number,
): number {
  if (bias === undefined || tf.util.sizeFromShape(bias.shape) !== plan.outC) {
    return 0;
  }
  const floats = new Float32Array(heapBuffer(backend));
  const start = byteOffset(backend, bias) / 4;
  fillRows(
    floats,
    byteOffset(backend, output) / 4,
    floats.slice(start, start + plan.outC),
    rows,
  );
  return 1;
}

/**
 * The `[n, outH, outW, outC]` result from the `[n, rows, cols, outC]` grid
 * the sgemms wrote (cropped when larger; the grid is released), plus the
 * bias when `fillBias` could not put it in.
 */
function finish(
  backend: WasmBackendLike,
  grid: tf.TensorInfo,
  plan: ConvPlan,
  bias: tf.TensorInfo | undefined,
  biasAdded: boolean,
): tf.TensorInfo {
  const [, rows, cols] = grid.shape;
  let y = grid;
  if (rows !== plan.outH || cols !== plan.outW) {
    y = backend.makeOutput(
      [plan.n, plan.outH, plan.outW, plan.outC],
      "float32",
    );
    cropImages(
      new Float32Array(heapBuffer(backend)),
      byteOffset(backend, grid) / 4,
      byteOffset(backend, y) / 4,
      plan.n,
      rows,
      cols,
      plan.outC,
      plan.outH,
      plan.outW,
      0,
      0,
    );
    release(backend, grid);
  }
  if (bias !== undefined && !biasAdded) {
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
