import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import type { SgemmCall } from "./sgemm_call.ts";
import {
  applyActivation,
  byteOffset,
  cropImages,
  fillRows,
  heapBuffer,
  placeImages,
  release,
  runKernel,
  type WasmBackendLike,
} from "./heap.ts";

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

function virtualRows(plan: ConvPlan): number {
  return plan.paddedH / plan.stride;
}

function needsPadding(plan: ConvPlan): boolean {
  return plan.top !== 0 || plan.left !== 0 || plan.paddedH !== plan.h ||
    plan.paddedW !== plan.w;
}

function needsCrop(plan: ConvPlan): boolean {
  return plan.outH !== virtualRows(plan) || plan.outW !== plan.paddedW;
}

function taps(plan: ConvPlan): TapMatrix[] {
  const list: TapMatrix[] = [];
  const pixels = plan.n * plan.paddedH * plan.paddedW;
  const total = plan.n * virtualRows(plan) * plan.paddedW;
  for (let y = 0; y < plan.kh; y++) {
    for (let x = 0; x < plan.kw; x++) {
      const shift = y * plan.dilationH * plan.paddedW + x * plan.dilationW;
      list.push({
        filterBytes: (y * plan.kw + x) * plan.c * plan.outC * 4,
        inputBytes: shift * plan.c * 4,
        rows: Math.min(
          total,
          Math.floor((pixels - 1 - shift) / plan.stride) + 1,
        ),
      });
    }
  }
  return list;
}

// The padded input (x itself when no padding is needed); caller releases it
// when it is not x.
function paddedInput(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  if (!needsPadding(plan)) return x;
  const padded = backend.makeOutput(
    [plan.n, plan.paddedH, plan.paddedW, plan.c],
    "float32",
  );
  const heap = new Float32Array(heapBuffer(backend));
  placeImages(
    heap,
    byteOffset(backend, x) / 4,
    byteOffset(backend, padded) / 4,
    plan.n,
    plan.h,
    plan.w,
    plan.c,
    plan.paddedH,
    plan.paddedW,
    plan.top,
    plan.left,
  );
  return padded;
}

// The output gradient spread on the virtual grid, zeros elsewhere.
function virtualGradient(
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  plan: ConvPlan,
): tf.TensorInfo {
  if (!needsCrop(plan)) return dy;
  const spread = backend.makeOutput(
    [plan.n, virtualRows(plan), plan.paddedW, plan.outC],
    "float32",
  );
  const heap = new Float32Array(heapBuffer(backend));
  placeImages(
    heap,
    byteOffset(backend, dy) / 4,
    byteOffset(backend, spread) / 4,
    plan.n,
    plan.outH,
    plan.outW,
    plan.outC,
    virtualRows(plan),
    plan.paddedW,
    0,
    0,
  );
  return spread;
}

function checkFloat32(op: string, ...tensors: tf.TensorInfo[]): void {
  for (const tensor of tensors) {
    if (tensor.dtype !== "float32") {
      throw new Error(
        `${op}: native path takes float32 tensors, got ${tensor.dtype} [${tensor.shape}]`,
      );
    }
  }
}

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

// Strided gradients by stride phase. Tap (y, x) of a stride-s convolution
// only ever reads padded-input pixels of phase (y % s, x % s), i.e. those at
// (s·i + y % s, s·j + x % s). Split into its s² phase images, each
// [n, paddedH/s, ceil(paddedW/s), c], the strided convolution is a stride-1
// one per tap on one phase, over a virtual grid s² times smaller than the
// strided grid above, which runs s times the needed rows.

/** Whether a gradient takes the phase-split path (stride above 1, no dilation). */
export function usesPhases(plan: ConvPlan): boolean {
  return plan.stride > 1 && plan.dilationH === 1 && plan.dilationW === 1;
}

interface PhaseGrid {
  /** Phase image height (paddedH / stride). */
  rows: number;
  /** Phase image width. */
  cols: number;
  /** Floats in one phase image block `[n, rows, cols, c]`. */
  phaseFloats: number;
}

function phaseGrid(plan: ConvPlan): PhaseGrid {
  const rows = plan.paddedH / plan.stride;
  const cols = Math.ceil(plan.paddedW / plan.stride);
  return { rows, cols, phaseFloats: plan.n * rows * cols * plan.c };
}

// The float offset, in the phase buffer, of padded pixel (row, col) of image img.
function phaseOffset(
  plan: ConvPlan,
  grid: PhaseGrid,
  img: number,
  row: number,
  col: number,
): number {
  const s = plan.stride;
  const phase = (row % s) * s + (col % s);
  return phase * grid.phaseFloats +
    ((img * grid.rows + Math.floor(row / s)) * grid.cols +
        Math.floor(col / s)) * plan.c;
}

// Moves x's pixels between x (NHWC) and the zero-padded phase buffer.
function movePhases(
  heap: Float32Array,
  xAt: number,
  phasesAt: number,
  plan: ConvPlan,
  grid: PhaseGrid,
  toPhases: boolean,
): void {
  const { n, h, w, c, stride: s } = plan;
  for (let img = 0; img < n; img++) {
    for (let r = 0; r < h; r++) {
      const row = r + plan.top;
      for (let b = 0; b < s; b++) {
        // Columns of one phase are contiguous in the phase buffer.
        const firstCol = (((b - plan.left) % s) + s) % s;
        if (firstCol >= w) continue;
        const count = Math.floor((w - 1 - firstCol) / s) + 1;
        let at = phasesAt +
          phaseOffset(plan, grid, img, row, firstCol + plan.left);
        let from = xAt + ((img * h + r) * w + firstCol) * c;
        for (let k = 0; k < count; k++, at += c, from += s * c) {
          if (toPhases) {
            for (let e = 0; e < c; e++) heap[at + e] = heap[from + e];
          } else {
            for (let e = 0; e < c; e++) heap[from + e] = heap[at + e];
          }
        }
      }
    }
  }
}

function phaseTaps(plan: ConvPlan, grid: PhaseGrid): TapMatrix[] {
  const s = plan.stride;
  const total = plan.n * grid.rows * grid.cols;
  const list: TapMatrix[] = [];
  for (let y = 0; y < plan.kh; y++) {
    for (let x = 0; x < plan.kw; x++) {
      const phase = (y % s) * s + (x % s);
      const shift = Math.floor(y / s) * grid.cols + Math.floor(x / s);
      list.push({
        filterBytes: (y * plan.kw + x) * plan.c * plan.outC * 4,
        inputBytes: (phase * grid.phaseFloats + shift * plan.c) * 4,
        rows: total - shift,
      });
    }
  }
  return list;
}

// dy on the [n, rows, cols] phase grid, zeros elsewhere (dy itself when it fits).
function phaseGradient(
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  plan: ConvPlan,
  grid: PhaseGrid,
): tf.TensorInfo {
  if (grid.rows === plan.outH && grid.cols === plan.outW) return dy;
  const spread = backend.makeOutput(
    [plan.n, grid.rows, grid.cols, plan.outC],
    "float32",
  );
  placeImages(
    new Float32Array(heapBuffer(backend)),
    byteOffset(backend, dy) / 4,
    byteOffset(backend, spread) / 4,
    plan.n,
    plan.outH,
    plan.outW,
    plan.outC,
    grid.rows,
    grid.cols,
    0,
    0,
  );
  return spread;
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

/** A filter tap as a matrix: where its block and its input rows start, and how many rows it has. */
interface TapMatrix {
  /** The tap's block in the `[kh, kw, c, outC]` filter, in bytes. */
  filterBytes: number;
  /** The tap's shift in its input buffer, in bytes. */
  inputBytes: number;
  /** Rows the tap covers. */
  rows: number;
}

// Output rows per block: a block of C and the input rows the taps read for
// it stay in the L2 cache while all taps add into it; blocks are also what
// the two threads share.
const BLOCK_BYTES = 1 << 19;

function rowBlock(c: number, outC: number): number {
  return Math.max(256, Math.floor(BLOCK_BYTES / (4 * (c + outC))));
}

interface ForwardBuffers {
  /** Byte offset of the (padded or phase) input. */
  input: number;
  /** Floats from one virtual output row's input pixel to the next. */
  inputRowFloats: number;
  /** Byte offset of the filter. */
  filter: number;
  /** Byte offset of the `[rows, outC]` output grid. */
  output: number;
  /** Beta of the first tap (1 when the grid holds the bias). */
  beta: number;
}

/**
 * The forward convolution's sgemms, one group per block of output rows, each
 * with every tap in order (the first initialises the block).
 */
function forwardGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  rows: number,
  at: ForwardBuffers,
): SgemmCall[][] {
  const block = rowBlock(plan.c, plan.outC);
  const groups: SgemmCall[][] = [];
  for (let start = 0; start < rows; start += block) {
    const group: SgemmCall[] = [];
    tapList.forEach((tap, index) => {
      const count = Math.min(start + block, tap.rows) - start;
      if (count <= 0) return;
      group.push({
        transA: false,
        transB: false,
        m: count,
        n: plan.outC,
        k: plan.c,
        alpha: 1,
        a: at.input + tap.inputBytes + start * at.inputRowFloats * 4,
        lda: at.inputRowFloats,
        b: at.filter + tap.filterBytes,
        ldb: plan.outC,
        beta: index === 0 ? at.beta : 1,
        c: at.output + start * plan.outC * 4,
        ldc: plan.outC,
      });
    });
    groups.push(group);
  }
  return groups;
}

interface FilterGradientBuffers {
  /** Byte offset of the (padded or phase) input. */
  input: number;
  /** Floats from one virtual output row's input pixel to the next. */
  inputRowFloats: number;
  /** Byte offset of dy on the virtual grid. */
  gradient: number;
  /** Byte offset of the `[kh, kw, c, outC]` filter gradient. */
  output: number;
}

/** The filter gradient's sgemms: one independent group per tap. */
function filterGradientGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  at: FilterGradientBuffers,
): SgemmCall[][] {
  return tapList.map((tap) => [{
    transA: true,
    transB: false,
    m: plan.c,
    n: plan.outC,
    k: tap.rows,
    alpha: 1,
    a: at.input + tap.inputBytes,
    lda: at.inputRowFloats,
    b: at.gradient,
    ldb: plan.outC,
    beta: 0,
    c: at.output + tap.filterBytes,
    ldc: plan.outC,
  }]);
}

interface InputGradientBuffers {
  /** Byte offset of dy on the virtual grid. */
  gradient: number;
  /** Byte offset of the filter. */
  filter: number;
  /** Byte offset of the zeroed (padded or phase) input gradient. */
  output: number;
  /** Pixels between the input-gradient pixels of consecutive grid rows. */
  step: number;
}

/**
 * The input gradient's sgemms. Taps add into overlapping pixels, so the
 * groups split the input-gradient pixels (`pixels` of them) into blocks:
 * each group has, for every tap, the grid rows whose pixel lies in its block.
 */
function inputGradientGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  pixels: number,
  at: InputGradientBuffers,
): SgemmCall[][] {
  const block = rowBlock(plan.c, plan.outC);
  const groups: SgemmCall[][] = [];
  for (let from = 0; from < pixels; from += block) {
    const to = Math.min(pixels, from + block);
    const group: SgemmCall[] = [];
    for (const tap of tapList) {
      const first = tap.inputBytes / (4 * plan.c);
      const start = Math.max(0, Math.ceil((from - first) / at.step));
      const end = Math.min(tap.rows, Math.ceil((to - first) / at.step));
      if (end <= start) continue;
      group.push({
        transA: false,
        transB: true,
        m: end - start,
        n: plan.c,
        k: plan.outC,
        alpha: 1,
        a: at.gradient + start * plan.outC * 4,
        lda: plan.outC,
        b: at.filter + tap.filterBytes,
        ldb: plan.outC,
        beta: 1,
        c: at.output + tap.inputBytes + start * at.step * plan.c * 4,
        ldc: at.step * plan.c,
      });
    }
    if (group.length > 0) groups.push(group);
  }
  return groups;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

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

function fallback(
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

/** The attributes every conv kernel's plan is made from. */
interface ConvAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: unknown;
  dimRoundingMode?: unknown;
  dataFormat?: string;
}

/** `planConv` from a kernel's attributes; the gradients have no dilations. */
function planConvFromAttrs(
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

function checkGradientShape(
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
