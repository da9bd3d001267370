import * as tf from "@tensorflow/tfjs";
import { activeWebGpu } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;

// One workgroup per tensor: each thread sums the squares of a strided share,
// then a tree in workgroup memory. Tensors of a ViT or a ResNet have at most
// a few hundred thousand values, a few hundred per thread.
const SUM_OF_SQUARES = /* wgsl */ `
struct Info { count: u32, slot: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> info: Info;
var<workgroup> acc: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  for (var i = t; i < info.count; i = i + ${WORKGROUP}u) {
    let v = g[i];
    s = s + v * v;
  }
  acc[t] = s;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) { acc[t] = acc[t] + acc[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) { partials[info.slot] = acc[0]; }
}`;

const NORM_AND_SCALE = /* wgsl */ `
struct Info { count: u32, maxNorm: f32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<uniform> info: Info;

@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < info.count; i = i + 1u) { s = s + partials[i]; }
  let n = sqrt(s);
  norm[0] = n;
  scale[0] = info.maxNorm / max(n, info.maxNorm);
}`;

/**
 * The global L2 norm of `tensors` (all of them concatenated) and the clip
 * factor `maxNorm / max(norm, maxNorm)`, on WebGPU in one dispatch per
 * tensor plus one, nothing read back. The composed form takes about four
 * dispatches per tensor.
 *
 * @param tensors float32 tensors (gradients).
 * @param maxNorm The clipping limit; must be positive.
 * @returns The norm and the factor, as scalars the caller disposes.
 */
export function globalNormAndClipScale(
  tensors: readonly tf.Tensor[],
  maxNorm: number,
): { norm: tf.Scalar; scale: tf.Scalar } {
  const backend = activeWebGpu("globalNormAndClipScale");
  if (!(maxNorm > 0)) {
    throw new Error(
      `globalNormAndClipScale: maxNorm must be positive, got ${maxNorm}`,
    );
  }
  for (const t of tensors) {
    if (t.dtype !== "float32") {
      throw new Error(
        `globalNormAndClipScale: tensors must be float32, got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  const partials = backend.makeTensorInfo(
    [Math.max(1, tensors.length)],
    "float32",
  );
  const norm = backend.makeTensorInfo([], "float32");
  const scale = backend.makeTensorInfo([], "float32");
  const squares = pipelineFor(
    backend.device,
    "vitkd-sum-squares",
    SUM_OF_SQUARES,
  );
  tensors.forEach((t, slot) => {
    const info = new Uint32Array([t.size, slot]);
    encodeDispatch(
      backend,
      "VitkdSumOfSquares",
      squares,
      [t, partials],
      [uniformBuffer(backend, info.buffer)],
      [1],
    );
  });
  const info = new ArrayBuffer(8);
  new Uint32Array(info, 0, 1)[0] = tensors.length;
  new Float32Array(info, 4, 1)[0] = maxNorm;
  encodeDispatch(
    backend,
    "VitkdNormAndScale",
    pipelineFor(backend.device, "vitkd-norm-scale", NORM_AND_SCALE),
    [partials, norm, scale],
    [uniformBuffer(backend, info)],
    [1],
  );
  // the queue owns it until submitted: tfjs releases its buffer after that
  tf.backend().disposeData(partials.dataId);
  const engine = tf.engine();
  return {
    norm: engine.makeTensorFromTensorInfo(norm) as tf.Scalar,
    scale: engine.makeTensorFromTensorInfo(scale) as tf.Scalar,
  };
}
