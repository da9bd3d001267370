import * as tf from "@tensorflow/tfjs";
import { activeWebGpu, type WebGpuBackendInternals } from "./_backend.ts";
import { storageBuffersPerStage } from "./device.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";
import { isConstantBuffer } from "./uploads.ts";
import type { Tensor, TensorInfo } from "../tf_types.ts";

/** The constants of one AdamW update, the same for every variable of a step. */
export interface AdamWUpdateConstants {
  /** Learning rate of this step. */
  learningRate: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** `1 - beta1^t`. */
  correction1: number;
  /** `1 - beta2^t`. */
  correction2: number;
  /** Added to the root of the second moment. */
  epsilon: number;
}

/** One variable of {@linkcode adamwUpdatePackedInPlace}. */
export interface AdamWItem {
  /** The variable (updated). */
  param: TensorInfo;
  /** Its gradient (read). */
  grad: TensorInfo;
  /** Where its moments start in each half of the packed moments. */
  offset: number;
  /** Its decoupled weight decay (0 for none). */
  weightDecay: number;
}

const WORKGROUP = 256;
// Workgroups per variable along x; bigger variables loop (grid stride).
const MAX_WORKGROUPS = 1024;
// Variables per dispatch at most, however many buffers the device binds.
const MAX_VARIABLES = 32;

/**
 * How many variables one AdamW dispatch updates on this device: two
 * buffers each (parameter, gradient) beside the packed moments and the
 * shared gradient scale.
 */
export function adamwVariablesPerDispatch(device: GPUDevice): number {
  const fit = Math.floor((storageBuffersPerStage(device) - 2) / 2);
  return Math.max(1, Math.min(MAX_VARIABLES, fit));
}

// The same operations in the same order as the composed update in
// @vitkd/distill's AdamW, so the two agree to float rounding. Workgroup row
// y is variable y; its buffers are chosen by an if-chain since WGSL cannot
// index bindings. Its first moment is moments[offset + i], its second
// moments[half + offset + i].
function shader(count: number): string {
  const decls: string[] = [];
  const cases: string[] = [];
  for (let k = 0; k < count; k++) {
    decls.push(
      `@group(0) @binding(${
        2 * k
      }) var<storage, read_write> p${k}: array<f32>;`,
      `@group(0) @binding(${2 * k + 1}) var<storage, read> g${k}: array<f32>;`,
    );
    cases.push(`if (k == ${k}u) {
    for (var i = id.x; i < n; i = i + stride) {
      let gi = g${k}[i] * scale;
      let mi = moments[at + i] * s.beta1 + gi * s.oneMinusBeta1;
      let vi = moments[s.half + at + i] * s.beta2 + (gi * gi) * s.oneMinusBeta2;
      moments[at + i] = mi;
      moments[s.half + at + i] = vi;
      var update = (mi / s.correction1) / (sqrt(vi / s.correction2) + s.epsilon);
      update = update + p${k}[i] * decay;
      p${k}[i] = p${k}[i] - update * s.lr;
    }
  }`);
  }
  const slots = Math.ceil(count / 4);
  return `
struct Step {
  lr: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, correction1: f32, correction2: f32, epsilon: f32,
  half: u32, pad0: u32, pad1: u32, pad2: u32,
  counts: array<vec4<u32>, ${slots}>,
  offsets: array<vec4<u32>, ${slots}>,
  decays: array<vec4<f32>, ${slots}>,
}
${decls.join("\n")}
@group(0) @binding(${2 * count}) var<storage, read_write> moments: array<f32>;
@group(0) @binding(${2 * count + 1}) var<storage, read> gradScale: array<f32>;
@group(0) @binding(${2 * count + 2}) var<uniform> s: Step;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let k = id.y;
  let n = s.counts[k / 4u][k % 4u];
  let at = s.offsets[k / 4u][k % 4u];
  let decay = s.decays[k / 4u][k % 4u];
  let scale = gradScale[0];
  let stride = groups.x * ${WORKGROUP}u;
  ${cases.join(" else ")}
}`;
}

/**
 * Whether an in-place kernel ({@linkcode adamwUpdatePackedInPlace}, the
 * moving statistics) may write the tensors: the backend is webgpu and no
 * other tensor shares their buffers. Tensors still on the CPU are uploaded
 * first: a one-value tensor goes into a constant buffer shared by every
 * tensor of that value (uploads.ts), which must never be written.
 *
 * @param tensors The tensors to write.
 * @returns True when an in-place update is safe.
 */
export function canUpdateInPlace(tensors: TensorInfo[]): boolean {
  if (tf.getBackend() !== "webgpu") return false;
  const backend = tf.backend() as unknown as WebGpuBackendInternals & {
    refCount(dataId: object): number;
  };
  return tensors.every((t) => {
    backend.uploadToGPU(t.dataId);
    return backend.refCount(t.dataId) === 1 &&
      !isConstantBuffer(backend.tensorMap.get(t.dataId).resource);
  });
}

/**
 * A copy of `tensor` in a GPU buffer of its own, computed on the GPU (one
 * dispatch), so that a variable that shares its buffer (or holds a shared
 * one-value constant) can be assigned it and then updated in place.
 *
 * @param tensor A float32 tensor on the webgpu backend.
 * @returns The copy (`tensor · 1`, exactly the values); the caller owns it.
 */
export function ownBufferCopy(tensor: Tensor): Tensor {
  const backend = activeWebGpu("ownBufferCopy");
  // on the GPU first: tfjs computes a product of small CPU-side values on
  // the CPU, and its result would be uploaded (shared, for one value) again
  backend.uploadToGPU(tensor.dataId);
  return tf.mul(tensor, 1);
}

function checkItem(item: AdamWItem, half: number): number {
  const { param, grad, offset } = item;
  const count = param.shape.reduce((a, b) => a * b, 1);
  if (param.dtype !== "float32") {
    throw new Error(
      `adamwUpdatePackedInPlace: the parameter must be float32, got ${param.dtype}`,
    );
  }
  const size = grad.shape.reduce((a, b) => a * b, 1);
  if (size !== count || grad.dtype !== "float32") {
    throw new Error(
      `adamwUpdatePackedInPlace: the gradient must be float32 of ${count} values like the parameter [${param.shape}], got ${grad.dtype} [${grad.shape}]`,
    );
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + count > half) {
    throw new Error(
      `adamwUpdatePackedInPlace: moments at ${offset} for ${count} values do not fit a half of ${half}`,
    );
  }
  return count;
}

/**
 * AdamW updates of many variables, in place on WebGPU, with their moments
 * packed into one buffer: the first moments in its first half, the second
 * moments at the same offsets in its second half. As few dispatches as the
 * device's bindings allow ({@linkcode adamwVariablesPerDispatch} variables
 * each; the moments take one binding for all of them, where a buffer per
 * moment took two per variable; the composed update takes about 14
 * dispatches per variable). Cached CPU copies of the updated tensors are
 * dropped, so later reads see the new values.
 *
 * Only for the webgpu backend; no other live tensor may share the updated
 * tensors' buffers (see {@linkcode canUpdateInPlace}).
 *
 * @param items The variables, their gradients, moment offsets and decays.
 * @param moments The packed moments, float32 of an even size (updated).
 * @param constants This step's constants (the weight decay is per item).
 * @param gradScale A one-value tensor every gradient is multiplied by first
 * (a clip factor); none for 1.
 */
export function adamwUpdatePackedInPlace(
  items: readonly AdamWItem[],
  moments: TensorInfo,
  constants: AdamWUpdateConstants,
  gradScale?: TensorInfo,
): void {
  const backend = activeWebGpu("adamwUpdatePackedInPlace");
  const size = moments.shape.reduce((a, b) => a * b, 1);
  if (moments.dtype !== "float32" || size % 2 !== 0) {
    throw new Error(
      `adamwUpdatePackedInPlace: moments must be float32 of an even size, got ${moments.dtype} [${moments.shape}]`,
    );
  }
  const half = size / 2;
  const counts = items.map((item) => checkItem(item, half));
  const live = items.map((item, i) => ({ item, count: counts[i] }))
    .filter(({ count }) => count > 0);
  if (live.length === 0) return;
  const per = adamwVariablesPerDispatch(backend.device);
  // a one-value tensor is a shared constant buffer (uploads.ts)
  const one = gradScale ? undefined : tf.scalar(1);
  const c = constants;
  for (let start = 0; start < live.length; start += per) {
    const group = live.slice(start, start + per);
    const slots = Math.ceil(group.length / 4);
    const uniforms = new ArrayBuffer(48 + 48 * slots);
    new Float32Array(uniforms, 0, 8).set([
      c.learningRate,
      c.beta1,
      1 - c.beta1,
      c.beta2,
      1 - c.beta2,
      c.correction1,
      c.correction2,
      c.epsilon,
    ]);
    new Uint32Array(uniforms, 32, 1)[0] = half;
    const countWords = new Uint32Array(uniforms, 48, 4 * slots);
    const offsetWords = new Uint32Array(uniforms, 48 + 16 * slots, 4 * slots);
    const decayWords = new Float32Array(uniforms, 48 + 32 * slots, 4 * slots);
    group.forEach(({ item, count }, k) => {
      countWords[k] = count;
      offsetWords[k] = item.offset;
      decayWords[k] = item.weightDecay;
    });
    const largest = Math.max(...group.map(({ count }) => count));
    encodeDispatch(
      backend,
      "VitkdAdamW",
      pipelineFor(
        backend.device,
        `vitkd-adamw-packed-${group.length}`,
        shader(group.length),
      ),
      [
        ...group.flatMap(({ item }) => [item.param, item.grad]),
        moments,
        gradScale ?? one!,
      ],
      [uniformBuffer(backend, uniforms)],
      [Math.min(MAX_WORKGROUPS, Math.ceil(largest / WORKGROUP)), group.length],
    );
    for (const { item } of group) {
      backend.tensorMap.get(item.param.dataId).values = null;
    }
  }
  backend.tensorMap.get(moments.dataId).values = null;
  one?.dispose();
}
