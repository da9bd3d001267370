import type * as tf from "@tensorflow/tfjs";
import {
  floatOffset,
  type FusedBackend,
  heapOf,
  sizeOf,
} from "./heap_kernel.ts";
import { byteOffset, heapBuffer, heapMemory, release } from "../native/heap.ts";
import { MEAN_BLOCK, spatialMeanSimd } from "../wasm_simd/spatial_mean_simd.ts";
import { activeDnnl } from "../native/_dnnl_rows.ts";
import { dnnlMatMulCache } from "../native/_dnnl_matmul.ts";
import { runOnHeap } from "../native/_dnnl_objects.ts";
import { LoopId } from "../native/loops.ts";
import { runHeapLoop } from "./parallel_loops.ts";

// A reduction's `axis` attribute as distinct non-negative axes in order;
// undefined when it is not a number or list of numbers.
function sortedAxes(axis: unknown, rank: number): number[] | undefined {
  const list = (Array.isArray(axis) ? axis : [axis]) as unknown[];
  if (list.some((a) => typeof a !== "number")) return undefined;
  return [...new Set((list as number[]).map((a) => a < 0 ? a + rank : a))]
    .sort((a, b) => a - b);
}

// The leading axes `[0, k)` when `axis` names exactly those (k < rank), else 0.
function leadingAxes(axis: unknown, rank: number): number {
  const axes = sortedAxes(axis, rank);
  if (!axes || axes.length === 0 || axes.some((a, i) => a !== i)) return 0;
  return axes.length < rank ? axes.length : 0;
}

/**
 * Column sums of `x` as `[rows, width]` into `out` by oneDNN's matmul, a row
 * of ones times x (float32, vectorised: about 9x the float64 loop's speed
 * on a ViT's bias gradients); false when oneDNN is off or refused.
 */
function dnnlColumnSums(
  wasm: FusedBackend,
  x: tf.TensorInfo,
  out: tf.TensorInfo,
  rows: number,
  width: number,
): boolean {
  const dnnl = activeDnnl();
  if (!dnnl) return false;
  const op = dnnlMatMulCache(dnnl).get({
    batchA: 1,
    batchB: 1,
    m: 1,
    k: rows,
    n: width,
    transposeA: false,
    transposeB: false,
    bias: false,
  });
  if (typeof op === "string") return false;
  const ones = wasm.makeOutput([rows], "float32");
  const onesAt = floatOffset(wasm, ones);
  heapOf(wasm).fill(1, onesAt, onesAt + rows);
  const refused = runOnHeap(
    dnnl,
    op,
    heapBuffer(wasm),
    [ones, x, out].map((t) => byteOffset(wasm, t)),
  );
  release(wasm, ones);
  return refused === undefined;
}

/**
 * Wraps the wasm `Sum` kernel: a float32 sum over the leading axes (a bias
 * gradient: `[rows, width] -> [width]`) runs as oneDNN's matmul of a row of
 * ones when its kernels are on, else as column sums in float64 over the
 * heap, the columns shared with the helper thread; stock wasm first
 * transposes the reduced axes to the end.
 * Every other case goes to `stock`.
 */
export function leadingSumConfig(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args;
      const x = inputs.x as tf.TensorInfo | undefined;
      const k = x && x.dtype === "float32"
        ? leadingAxes(attrs?.axis, x.shape.length)
        : 0;
      if (!x || k === 0) return stock.kernelFunc(args);
      const wasm = backend as unknown as FusedBackend;
      const kept = x.shape.slice(k);
      const outShape = attrs?.keepDims
        ? [...x.shape.slice(0, k).map(() => 1), ...kept]
        : kept;
      const inner = sizeOf(kept);
      const outer = inner === 0 ? 0 : sizeOf(x.shape) / inner;
      const out = wasm.makeOutput(outShape, "float32");
      if (
        outer > 0 && inner > 0 && dnnlColumnSums(wasm, x, out, outer, inner)
      ) {
        return out;
      }
      // columns split with the helper thread when one runs (the same sums
      // to the bit: each column is still added up in row order)
      runHeapLoop(
        wasm,
        LoopId.ColumnSum,
        [floatOffset(wasm, x), floatOffset(wasm, out), outer, inner],
        inner,
        outer,
      );
      return out;
    },
  };
}

// Whether `axis` names exactly the middle axes [1, rank - 1) of rank >= 3.
function middleAxes(axis: unknown, rank: number): boolean {
  const axes = sortedAxes(axis, rank);
  return rank >= 3 && axes !== undefined && axes.length === rank - 2 &&
    axes.every((a, i) => a === i + 1);
}

/**
 * Wraps the wasm `Mean` kernel: a float32 mean over the middle axes (a
 * global average pool of NHWC images, `[n, h, w, c] -> [n, c]`) runs as
 * per-image column sums in float64 over the heap: WebAssembly SIMD when
 * the channels are a multiple of 16, else a loop whose images are shared
 * with the helper thread (the same values either way); stock wasm first
 * transposes the reduced axes to the end. Every other case goes to `stock`.
 */
export function spatialMeanConfig(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args;
      const x = inputs.x as tf.TensorInfo | undefined;
      if (
        !x || x.dtype !== "float32" ||
        !middleAxes(attrs?.axis, x.shape.length)
      ) {
        return stock.kernelFunc(args);
      }
      const rank = x.shape.length;
      const [n, width] = [x.shape[0], x.shape[rank - 1]];
      const rows = sizeOf(x.shape.slice(1, rank - 1));
      const outShape = attrs?.keepDims
        ? [n, ...x.shape.slice(1, rank - 1).map(() => 1), width]
        : [n, width];
      if (rows === 0 || n === 0 || width === 0) return stock.kernelFunc(args);
      const wasm = backend as unknown as FusedBackend;
      const out = wasm.makeOutput(outShape, "float32");
      const simd = width % MEAN_BLOCK === 0
        ? spatialMeanSimd(heapMemory(wasm))
        : undefined;
      if (simd) {
        simd(byteOffset(wasm, x), byteOffset(wasm, out), n, rows, width);
        return out;
      }
      runHeapLoop(
        wasm,
        LoopId.SpatialMean,
        [floatOffset(wasm, x), floatOffset(wasm, out), rows, width],
        n,
        rows * width,
      );
      return out;
    },
  };
}
