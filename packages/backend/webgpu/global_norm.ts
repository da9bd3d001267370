import * as tf from "@tensorflow/tfjs";
import { activeWebGpu } from "./_backend.ts";
import { storageBuffersPerStage } from "./device.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";
import type { Scalar, Tensor } from "../tf_types.ts";

const WORKGROUP = 256;

// Tensors per dispatch at most, however many buffers the device binds.
const MAX_TENSORS = 32;

// Workgroup k sums the squares of tensor k: each thread a strided share,
// then a tree in workgroup memory. WGSL cannot index bindings, so the
// tensor is chosen by an if-chain. Tensors of a ViT or a ResNet have at most
// a few hundred thousand values, a few hundred per thread.
function sumOfSquaresShader(count: number): string {
  const decls = Array.from(
    { length: count },
    (_, k) => `@group(0) @binding(${k}) var<storage, read> g${k}: array<f32>;`,
  );
  const cases = Array.from({ length: count }, (_, k) =>
    `if (k == ${k}u) {
    for (var i = t; i < n; i = i + ${WORKGROUP}u) { let v = g${k}[i]; s = s + v * v; }
  }`);
  const slots = Math.ceil(count / 4);
  return `
struct Info { slot: u32, pad0: u32, pad1: u32, pad2: u32, counts: array<vec4<u32>, ${slots}> }
${decls.join("\n")}
@group(0) @binding(${count}) var<storage, read_write> partials: array<f32>;
@group(0) @binding(${count + 1}) var<uniform> info: Info;
var<workgroup> acc: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let k = group.x;
  let n = info.counts[k / 4u][k % 4u];
  var s = 0.0;
  ${cases.join(" else ")}
  acc[t] = s;
  workgroupBarrier();
  for (var h = ${WORKGROUP / 2}u; h > 0u; h = h >> 1u) {
    if (t < h) { acc[t] = acc[t] + acc[t + h]; }
    workgroupBarrier();
  }
  if (t == 0u) { partials[info.slot + k] = acc[0]; }
}`;
}

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
 * factor `maxNorm / max(norm, maxNorm)`, on WebGPU, nothing read back: one
 * dispatch per as many tensors as the device binds (up to 32), plus one.
 * The composed form takes about four dispatches per tensor.
 *
 * @param tensors float32 tensors (gradients).
 * @param maxNorm The clipping limit; must be positive.
 * @returns The norm and the factor, as scalars the caller disposes.
 */
export function globalNormAndClipScale(
  tensors: readonly Tensor[],
  maxNorm: number,
): { norm: Scalar; scale: Scalar } {
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
  const per = Math.max(
    1,
    Math.min(MAX_TENSORS, storageBuffersPerStage(backend.device) - 1),
  );
  for (let start = 0; start < tensors.length; start += per) {
    const group = tensors.slice(start, start + per);
    const slots = Math.ceil(group.length / 4);
    const info = new Uint32Array(4 + 4 * slots);
    info[0] = start;
    group.forEach((t, k) => info[4 + k] = t.size);
    encodeDispatch(
      backend,
      "VitkdSumOfSquares",
      pipelineFor(
        backend.device,
        `vitkd-sum-squares-${group.length}`,
        sumOfSquaresShader(group.length),
      ),
      [...group, partials],
      [uniformBuffer(backend, info.buffer)],
      [group.length],
    );
  }
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
