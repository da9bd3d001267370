// Stock tfjs-webgpu kernels wrapped for cases a training step hits often: a
// transpose by the identity permutation (tfjs-layers' `dot` transposes 2-D
// kernels by [0, 1], forward and backward) shares its input instead of
// copying it, and a sum or mean over a block of consecutive axes before the
// last (every bias gradient, global average pooling) runs as one
// column-sum dispatch instead of a transpose and a reduction. The mean's
// gradient spreads dy back over the block in one dispatch too.
import type * as tf from "@tensorflow/tfjs";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;

/** Kernel: dy `[outer, columns]` spread over `[outer, rows, columns]`, / divisor. */
export const SPREAD_ROWS = "VitkdSpreadRows";

// x viewed as [outer, rows, columns]: one workgroup per output (o, j),
// strided partial sums over the rows, then a tree in workgroup memory; the
// sum divided by `divisor` (1 for a sum, the rows for a mean).
const COLUMN_SUM = `
struct Info { rows: u32, columns: u32, outputs: u32, divisor: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> info: Info;
var<workgroup> acc: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let out = group.x + group.y * 65535u;
  if (out >= info.outputs) { return; }
  let base = (out / info.columns) * info.rows * info.columns +
    out % info.columns;
  var s = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    s = s + x[base + r * info.columns];
  }
  acc[t] = s;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) { acc[t] = acc[t] + acc[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) { y[out] = acc[0] / info.divisor; }
}`;

// y[o, r, j] = dy[o, j] / divisor, grid stride over y.
const SPREAD = `
struct Info { rows: u32, columns: u32, size: u32, divisor: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.size; i = i + stride) {
    let j = i % info.columns;
    let o = i / (info.rows * info.columns);
    y[i] = dy[o * info.columns + j] / info.divisor;
  }
}`;

/** `[rows, columns, outputs or size, divisor]` as uniform words. */
function info(a: number, b: number, c: number, divisor: number): ArrayBuffer {
  const words = new ArrayBuffer(16);
  new Uint32Array(words, 0, 3).set([a, b, c]);
  new Float32Array(words, 12, 1)[0] = divisor;
  return words;
}

/**
 * `shape` viewed as `[outer, rows, columns]` when `axes` are consecutive and
 * end before the last axis (rows: their product), else undefined.
 */
export function axisBlock(
  shape: readonly number[],
  axes: readonly number[],
): { outer: number; rows: number; columns: number } | undefined {
  const rank = shape.length;
  const sorted = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (
    sorted.length === 0 || last >= rank - 1 ||
    sorted.some((a, i) => a !== first + i)
  ) {
    return undefined;
  }
  const product = (from: number, to: number) =>
    shape.slice(from, to).reduce((p, d) => p * d, 1);
  return {
    outer: product(0, first),
    rows: product(first, last + 1),
    columns: product(last + 1, rank),
  };
}

type Backend = WebGpuBackendInternals & { incRef(dataId: object): void };

/** The stock `Transpose`, except that the identity permutation shares x. */
export function identityTransposeConfig(
  stock: tf.KernelConfig,
): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { perm } = args.attrs as unknown as { perm: number[] };
      if (perm.every((p, i) => p === i)) {
        (args.backend as unknown as Backend).incRef(x.dataId);
        return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
      }
      return stock.kernelFunc(args);
    },
  };
}

/**
 * The stock `Sum` or `Mean`, except that a float32 reduction over
 * consecutive axes before the last ({@linkcode axisBlock}: bias gradients,
 * global average pooling) is one column-sum dispatch; the stock kernel
 * transposes the reduced axes to the end first.
 */
export function blockReductionConfig(stock: tf.KernelConfig): tf.KernelConfig {
  const mean = stock.kernelName === "Mean";
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as {
        axis: number | number[];
        keepDims: boolean;
      };
      const axes = Array.isArray(axis) ? axis : [axis];
      const block = axisBlock(x.shape, axes);
      if (!block || x.dtype !== "float32") return stock.kernelFunc(args);
      const backend = args.backend as unknown as Backend;
      const reduced = axes.map((a) => (a < 0 ? a + x.shape.length : a));
      const shape = x.shape.flatMap((d, a) =>
        reduced.includes(a) ? (keepDims ? [1] : []) : [d]
      );
      const y = backend.makeTensorInfo(shape, "float32");
      const outputs = block.outer * block.columns;
      if (outputs === 0) return y;
      encodeDispatch(
        backend,
        "VitkdColumnSum",
        pipelineFor(backend.device, "vitkd-column-sum", COLUMN_SUM),
        [x, y],
        [uniformBuffer(
          backend,
          info(block.rows, block.columns, outputs, mean ? block.rows : 1),
        )],
        [Math.min(outputs, 65535), Math.ceil(outputs / 65535)],
      );
      return y;
    },
  };
}

/**
 * {@linkcode SPREAD_ROWS} on WebGPU: `dy` (`[outer, columns]` values) copied
 * to every row of `[outer, rows, columns]` (attribute `shape`) and divided by
 * `divisor`, in one dispatch: the gradient of a mean over a block of axes,
 * where a division and a tile took two.
 */
export const spreadRowsWebGpu: tf.KernelConfig = {
  kernelName: SPREAD_ROWS,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as Backend;
    const { dy } = inputs as { dy: tf.TensorInfo };
    const { shape, axes, divisor } = attrs as unknown as {
      shape: number[];
      axes: number[];
      divisor: number;
    };
    const block = axisBlock(shape, axes);
    const size = shape.reduce((p, d) => p * d, 1);
    const dySize = dy.shape.reduce((p, d) => p * d, 1);
    if (
      !block || dy.dtype !== "float32" || dySize * block.rows !== size
    ) {
      throw new Error(
        `${SPREAD_ROWS}: dy ${dy.dtype} [${dy.shape}] does not spread over axes [${axes}] of [${shape}]`,
      );
    }
    const y = backend.makeTensorInfo([...shape], "float32");
    if (size === 0) return y;
    encodeDispatch(
      backend,
      SPREAD_ROWS,
      pipelineFor(backend.device, "vitkd-spread-rows", SPREAD),
      [dy, y],
      [uniformBuffer(backend, info(block.rows, block.columns, size, divisor))],
      [Math.min(4096, Math.ceil(size / WORKGROUP))],
    );
    return y;
  },
};
