// Two stock tfjs-webgpu kernels wrapped for cases a training step hits
// often: a transpose by the identity permutation (tfjs-layers' `dot`
// transposes 2-D kernels by [0, 1], forward and backward) shares its input
// instead of copying it, and a sum over leading axes (every bias gradient)
// runs as one column-sum dispatch instead of a transpose and a reduction.
import type * as tf from "@tensorflow/tfjs";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;

// One workgroup per column of [rows, columns]: strided partial sums, then a
// tree in workgroup memory.
const COLUMN_SUM = `
struct Info { rows: u32, columns: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> info: Info;
var<workgroup> acc: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let j = group.x + group.y * 65535u;
  if (j >= info.columns) { return; }
  var s = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    s = s + x[r * info.columns + j];
  }
  acc[t] = s;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) { acc[t] = acc[t] + acc[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) { y[j] = acc[0]; }
}`;

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
 * The stock `Sum`, except that a float32 sum over leading axes `0..k-1`
 * (bias gradients) is one column-sum dispatch; the stock kernel transposes
 * the reduced axes to the end first.
 */
export function leadingSumConfig(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as {
        axis: number | number[];
        keepDims: boolean;
      };
      const rank = x.shape.length;
      const axes = (Array.isArray(axis) ? axis : [axis])
        .map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
      const leading = axes.length > 0 && axes.length < rank &&
        axes.every((a, i) => a === i);
      if (!leading || x.dtype !== "float32") return stock.kernelFunc(args);
      const backend = args.backend as unknown as Backend;
      const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
      const kept = x.shape.slice(axes.length);
      const columns = kept.reduce((a, b) => a * b, 1);
      const shape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
      const y = backend.makeTensorInfo(shape, "float32");
      if (columns === 0) return y;
      encodeDispatch(
        backend,
        "VitkdColumnSum",
        pipelineFor(backend.device, "vitkd-column-sum", COLUMN_SUM),
        [x, y],
        [uniformBuffer(backend, new Uint32Array([rows, columns]).buffer)],
        [Math.min(columns, 65535), Math.ceil(columns / 65535)],
      );
      return y;
    },
  };
}
