// The filter taps of a planned convolution as matrices on the wasm heap:
// the padded input and the output gradient on the virtual grid, and, for
// strides above 1, the stride-phase buffers. Private to the native conv
// kernels.
import type * as tf from "@tensorflow/tfjs";
import {
  byteOffset,
  heapBuffer,
  placeImages,
  type WasmBackendLike,
} from "./heap.ts";
import {
  type ConvPlan,
  needsCrop,
  needsPadding,
  virtualRows,
} from "./_conv_plan.ts";

/** A filter tap as a matrix: where its block and its input rows start, and how many rows it has. */
export interface TapMatrix {
  /** The tap's block in the `[kh, kw, c, outC]` filter, in bytes. */
  filterBytes: number;
  /** The tap's shift in its input buffer, in bytes. */
  inputBytes: number;
  /** Rows the tap covers. */
  rows: number;
}

export function taps(plan: ConvPlan): TapMatrix[] {
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
export function paddedInput(
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
export function virtualGradient(
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

// Strided gradients by stride phase. Tap (y, x) of a stride-s convolution
// only ever reads padded-input pixels of phase (y % s, x % s), i.e. those at
// (s·i + y % s, s·j + x % s). Split into its s² phase images, each
// [n, paddedH/s, ceil(paddedW/s), c], the strided convolution is a stride-1
// one per tap on one phase, over a virtual grid s² times smaller than the
// strided grid above, which runs s times the needed rows.

export interface PhaseGrid {
  /** Phase image height (paddedH / stride). */
  rows: number;
  /** Phase image width. */
  cols: number;
  /** Floats in one phase image block `[n, rows, cols, c]`. */
  phaseFloats: number;
}

export function phaseGrid(plan: ConvPlan): PhaseGrid {
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
export function movePhases(
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

export function phaseTaps(plan: ConvPlan, grid: PhaseGrid): TapMatrix[] {
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
export function phaseGradient(
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
