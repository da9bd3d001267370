import * as tf from "@tensorflow/tfjs";
import {
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
} from "../cnn_kernels/batch_norm.ts";
import { checkMoving } from "../cnn_kernels/_moving_statistics.ts";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;

// Shared by both reductions: one workgroup per channel, each thread strides
// over rows, then a tree in workgroup memory.
const TREE = /* wgsl */ `
var<workgroup> acc: array<f32, ${WORKGROUP}>;
fn treeSum(t: u32, value: f32) -> f32 {
  acc[t] = value;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) { acc[t] = acc[t] + acc[t + k]; }
    workgroupBarrier();
  }
  let total = acc[0];
  workgroupBarrier();
  return total;
}`;

// Mean first, then the variance as the mean of squared deviations: two
// passes over x in float32 keep the precision a one-pass E[x²] - m² loses.
// With `moving`, the same thread that writes the batch's statistics also
// moves the moving ones (layer state, written in place): the operations of
// moving_average.ts, in its order, so the values are those of that dispatch.
const statsShader = (moving: boolean) => /* wgsl */ `
struct Info { rows: u32, channels: u32, epsilon: f32, factor: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;
@group(0) @binding(3) var<storage, read_write> invStd: array<f32>;
${
  moving
    ? `@group(0) @binding(4) var<storage, read_write> movingMean: array<f32>;
@group(0) @binding(5) var<storage, read_write> movingVariance: array<f32>;`
    : ""
}
@group(0) @binding(${moving ? 6 : 4}) var<uniform> info: Info;
${TREE}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let c = group.x;
  var s = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    s = s + x[r * info.channels + c];
  }
  let m = treeSum(t, s) / f32(max(info.rows, 1u));
  var q = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    let d = x[r * info.channels + c] - m;
    q = q + d * d;
  }
  let v = treeSum(t, q) / f32(max(info.rows, 1u));
  if (t == 0u) {
    mean[c] = m;
    variance[c] = v;
    invStd[c] = 1.0 / sqrt(v + info.epsilon);${
  moving
    ? `
    movingMean[c] = movingMean[c] - (movingMean[c] - m) * info.factor;
    movingVariance[c] = movingVariance[c] - (movingVariance[c] - v) * info.factor;`
    : ""
}
  }
}`;

const normalizeShader = (relu: boolean) => /* wgsl */ `
struct Info { size: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> invStd: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.size; i = i + stride) {
    let c = i % info.channels;
    let v = (x[i] - mean[c]) * (invStd[c] * gamma[c]) + beta[c];
    y[i] = ${relu ? "max(v, 0.0)" : "v"};
  }
}`;

// dy' is dy masked where the relu clipped (y == 0), or dy itself. Without
// relu y is still read once: "auto" layouts drop unused bindings, and a bind
// group that names one fails validation (and with it the whole submission).
const gradientDy = (relu: boolean) =>
  relu ? "select(0.0, dy[i], y[i] > 0.0)" : "dy[i] + 0.0 * y[0]";

// Devices get 8 storage buffers per stage by default (tfjs asks for no
// more), so the sums pass hands the dx pass one packed per-channel vector:
// (invStd, dBeta / n, invStd · dGamma / n, mean).
const gradSumsShader = (relu: boolean) => /* wgsl */ `
struct Info { rows: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invStd: array<f32>;
@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> dGamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dBeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> coef: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> info: Info;
${TREE}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let c = group.x;
  let m = mean[c];
  var sumDy = 0.0;
  var sumDyX = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    let i = r * info.channels + c;
    let g = ${gradientDy(relu)};
    sumDy = sumDy + g;
    sumDyX = sumDyX + g * (x[i] - m);
  }
  let totalDy = treeSum(t, sumDy);
  let totalDyX = treeSum(t, sumDyX);
  if (t == 0u) {
    let inv = invStd[c];
    let n = f32(max(info.rows, 1u));
    dGamma[c] = totalDyX * inv;
    dBeta[c] = totalDy;
    coef[c] = vec4<f32>(inv, totalDy / n, inv * (totalDyX * inv) / n, m);
  }
}`;

// dx = gamma·inv·(dy - dBeta/n - xhat·dGamma/n), xhat = (x - mean)·inv.
const gradInputShader = (relu: boolean) => /* wgsl */ `
struct Info { size: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.size; i = i + stride) {
    let c = i % info.channels;
    let k = coef[c];
    let g = ${gradientDy(relu)};
    dx[i] = gamma[c] * k.x * (g - k.y - (x[i] - k.w) * k.z);
  }
}`;

const MAX_WORKGROUPS = 4096;
const elementGroups = (size: number) =>
  Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(size / WORKGROUP)));

function geometry(
  kernel: string,
  x: tf.TensorInfo,
  perChannel: tf.TensorInfo[],
) {
  if (x.shape.length < 1 || x.dtype !== "float32") {
    throw new Error(
      `${kernel}: x must be float32 of rank >= 1, got ${x.dtype} [${x.shape}]`,
    );
  }
  const channels = x.shape[x.shape.length - 1];
  for (const t of perChannel) {
    if (t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new Error(
        `${kernel}: per-channel inputs must have shape [${channels}] (x is [${x.shape}]), got [${t.shape}]`,
      );
    }
  }
  const size = x.shape.reduce((a, b) => a * b, 1);
  return { channels, size, rows: channels > 0 ? size / channels : 0 };
}

/**
 * {@linkcode BATCH_NORM_TRAIN} on WebGPU: statistics, then y; two
 * dispatches. Given the inputs `movingMean` and `movingVariance` (and the
 * attribute `momentum`), the statistics dispatch also updates them in place
 * (see `fusedBatchNormTraining`); their cached CPU copies are dropped.
 */
export const batchNormTrainWebGpu: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const { epsilon, relu, momentum } = attrs as unknown as {
      epsilon: number;
      relu?: boolean;
      momentum?: number;
    };
    if (typeof epsilon !== "number" || !(epsilon > 0)) {
      throw new Error(
        `${BATCH_NORM_TRAIN}: attribute epsilon must be a number > 0, got ${epsilon}`,
      );
    }
    const moving = checkMoving(movingMean, movingVariance, momentum);
    const movingStats = moving ? [movingMean!, movingVariance!] : [];
    const { channels, size, rows } = geometry(BATCH_NORM_TRAIN, x!, [
      gamma!,
      beta!,
      ...movingStats,
    ]);
    const y = backend.makeTensorInfo([...x!.shape], "float32");
    const mean = backend.makeTensorInfo([channels], "float32");
    const variance = backend.makeTensorInfo([channels], "float32");
    const invStd = backend.makeTensorInfo([channels], "float32");
    // no rows: no statistics, and the moving ones stay as they are
    if (size === 0) return [y, mean, variance, invStd];
    const stats = new ArrayBuffer(16);
    new Uint32Array(stats, 0, 2).set([rows, channels]);
    new Float32Array(stats, 8, 2).set([epsilon, moving ? 1 - momentum! : 0]);
    encodeDispatch(
      backend,
      "VitkdBatchNormStats",
      pipelineFor(
        backend.device,
        `vitkd-bn-stats-${moving}`,
        statsShader(moving),
      ),
      [x!, mean, variance, invStd, ...movingStats],
      [uniformBuffer(backend, stats)],
      [channels],
    );
    for (const t of movingStats) {
      backend.tensorMap.get(t.dataId).values = null;
    }
    const on = relu === true;
    encodeDispatch(
      backend,
      "VitkdBatchNormApply",
      pipelineFor(backend.device, `vitkd-bn-apply-${on}`, normalizeShader(on)),
      [x!, mean, invStd, gamma!, beta!, y],
      [uniformBuffer(backend, new Uint32Array([size, channels]).buffer)],
      [elementGroups(size)],
    );
    return [y, mean, variance, invStd];
  },
};

/** {@linkcode BATCH_NORM_TRAIN_GRAD} on WebGPU: per-channel sums, then dx; two dispatches. */
export const batchNormTrainGradWebGpu: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { dy, x, mean, invStd, gamma, y } = inputs as Record<
      string,
      tf.TensorInfo
    >;
    const relu = (attrs as { relu?: boolean } | undefined)?.relu === true;
    const { channels, size, rows } = geometry(BATCH_NORM_TRAIN_GRAD, x, [
      mean,
      invStd,
      gamma,
    ]);
    if (dy.shape.join(",") !== x.shape.join(",")) {
      throw new Error(
        `${BATCH_NORM_TRAIN_GRAD}: dy [${dy.shape}] and x [${x.shape}] differ in shape`,
      );
    }
    if (relu && (y === undefined || y.shape.join(",") !== x.shape.join(","))) {
      throw new Error(
        `${BATCH_NORM_TRAIN_GRAD}: relu needs the forward output y of shape [${x.shape}]`,
      );
    }
    const dx = backend.makeTensorInfo([...x.shape], "float32");
    const dGamma = backend.makeTensorInfo([channels], "float32");
    const dBeta = backend.makeTensorInfo([channels], "float32");
    if (size === 0) return [dx, dGamma, dBeta];
    // without relu y is not read; dy stands in for its binding
    const mask = relu ? y : dy;
    const coef = backend.makeTensorInfo([channels, 4], "float32");
    encodeDispatch(
      backend,
      "VitkdBatchNormGradSums",
      pipelineFor(
        backend.device,
        `vitkd-bn-grad-sums-${relu}`,
        gradSumsShader(relu),
      ),
      [dy, x, mean, invStd, mask, dGamma, dBeta, coef],
      [uniformBuffer(backend, new Uint32Array([rows, channels]).buffer)],
      [channels],
    );
    encodeDispatch(
      backend,
      "VitkdBatchNormGradInput",
      pipelineFor(
        backend.device,
        `vitkd-bn-grad-input-${relu}`,
        gradInputShader(relu),
      ),
      [dy, x, mask, gamma, coef, dx],
      [uniformBuffer(backend, new Uint32Array([size, channels]).buffer)],
      [elementGroups(size)],
    );
    // the queue owns it until submitted: tfjs releases its buffer after that
    tf.backend().disposeData(coef.dataId);
    return [dx, dGamma, dBeta];
  },
};
