import * as tf from "@tensorflow/tfjs";
import { activeWebGpu, type WebGpuBackendInternals } from "./_backend.ts";
import { isConstantBuffer } from "./scalar_constants.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

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
  /** Decoupled weight decay of this variable (0 for none). */
  weightDecay: number;
}

const WORKGROUP = 256;
// Enough workgroups to fill a large GPU; bigger variables loop (grid stride).
const MAX_WORKGROUPS = 4096;

// The same operations in the same order as the composed update in
// @vitkd/distill's AdamW, so the two agree to float rounding.
const SHADER = /* wgsl */ `
struct Step {
  lr: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, correction1: f32, correction2: f32, epsilon: f32,
  decay: f32, count: u32,
}
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read> gradScale: array<f32>;
@group(0) @binding(5) var<uniform> s: Step;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  let k = gradScale[0];
  for (var i = id.x; i < s.count; i = i + stride) {
    let gi = g[i] * k;
    let mi = m[i] * s.beta1 + gi * s.oneMinusBeta1;
    let vi = v[i] * s.beta2 + (gi * gi) * s.oneMinusBeta2;
    m[i] = mi;
    v[i] = vi;
    var update = (mi / s.correction1) / (sqrt(vi / s.correction2) + s.epsilon);
    update = update + p[i] * s.decay;
    p[i] = p[i] - update * s.lr;
  }
}`;

/**
 * Whether {@linkcode adamwUpdateInPlace} may write the tensors: the backend
 * is webgpu and no other tensor shares their buffers.
 *
 * @param tensors The parameter and its moments.
 * @returns True when an in-place update is safe.
 */
export function canUpdateInPlace(tensors: tf.TensorInfo[]): boolean {
  if (tf.getBackend() !== "webgpu") return false;
  const backend = tf.backend() as unknown as WebGpuBackendInternals & {
    refCount(dataId: object): number;
  };
  return tensors.every((t) =>
    backend.refCount(t.dataId) === 1 &&
    !isConstantBuffer(backend.tensorMap.get(t.dataId).resource)
  );
}

/**
 * One AdamW update of `param` and its moments `m` and `v`, in place, as one
 * WebGPU dispatch (the composed update takes about 14). Cached CPU copies of
 * the three tensors are dropped, so later reads see the new values.
 *
 * Only for the webgpu backend; `param`, `m`, `v` and `grad` are float32 of
 * one size, and no other live tensor may share their buffers.
 *
 * @param param The variable to update.
 * @param m Its first moment (updated).
 * @param v Its second moment (updated).
 * @param grad Its gradient (read).
 * @param constants This step's constants.
 * @param gradScale A one-value tensor the gradient is multiplied by first
 * (a clip factor); none for 1.
 */
export function adamwUpdateInPlace(
  param: tf.TensorInfo,
  m: tf.TensorInfo,
  v: tf.TensorInfo,
  grad: tf.TensorInfo,
  constants: AdamWUpdateConstants,
  gradScale?: tf.TensorInfo,
): void {
  const backend = activeWebGpu("adamwUpdateInPlace");
  const count = param.shape.reduce((a, b) => a * b, 1);
  for (const [name, t] of [["m", m], ["v", v], ["grad", grad]] as const) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== count || t.dtype !== "float32") {
      throw new Error(
        `adamwUpdateInPlace: ${name} must be float32 of ${count} values like the parameter [${param.shape}], got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  if (param.dtype !== "float32") {
    throw new Error(
      `adamwUpdateInPlace: the parameter must be float32, got ${param.dtype}`,
    );
  }
  if (count === 0) return;
  const c = constants;
  const uniforms = new ArrayBuffer(48);
  new Float32Array(uniforms, 0, 9).set([
    c.learningRate,
    c.beta1,
    1 - c.beta1,
    c.beta2,
    1 - c.beta2,
    c.correction1,
    c.correction2,
    c.epsilon,
    c.weightDecay,
  ]);
  new Uint32Array(uniforms, 36, 1)[0] = count;
  const pipeline = pipelineFor(backend.device, "vitkd-adamw", SHADER);
  // a one-value tensor is a shared constant buffer (scalar_constants.ts)
  const one = gradScale ? undefined : tf.scalar(1);
  encodeDispatch(
    backend,
    "VitkdAdamW",
    pipeline,
    [param, m, v, grad, gradScale ?? one!],
    [uniformBuffer(backend, uniforms)],
    [Math.min(MAX_WORKGROUPS, Math.ceil(count / WORKGROUP))],
  );
  one?.dispose();
  for (const t of [param, m, v]) backend.tensorMap.get(t.dataId).values = null;
}
