// The training objective of @vitkd/distill (class-head cross-entropy with
// label smoothing, plus a tempered KL term per distillation head) and the
// count of correct rows, on WebGPU in two dispatches forward and one
// backward; tfjs's ops take about 90 for a student with two teachers. The
// forward writes each head's gradient of the loss as it goes (they are
// closed forms: softmax minus target), so the backward only scales them by
// the incoming gradient.
import * as tf from "@tensorflow/tfjs";
import type { WebGpuBackendInternals } from "./_backend.ts";
import type { Scalar, Tensor1D, Tensor2D } from "../tf_types.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

/** Kernel: the fused objective; outputs loss, correct rows, saved gradients. */
export const OBJECTIVE = "VitkdObjective";
/** Kernel: the gradient of {@linkcode OBJECTIVE} for each head. */
export const OBJECTIVE_GRAD = "VitkdObjectiveGrad";

/** Attributes of {@linkcode OBJECTIVE}. */
export interface ObjectiveAttrs {
  /** Class-head cross-entropy weight. */
  classWeight: number;
  /** Label smoothing of the class head. */
  labelSmoothing: number;
  /** Temperature of the soft terms. */
  tau: number;
  /** Weight of each distillation head's term. */
  distillWeights: number[];
  /** Divide the summed KL by the batch (`batchmean`) or batch x classes (`deit`). */
  reduction: "batchmean" | "deit";
}

const WORKGROUP = 256;
// Heads, teachers and labels are bound one buffer each; devices get at least
// 8 storage buffers per stage, so up to 3 distillation heads fit anywhere.
const MAX_TEACHERS = 3;

function forwardShader(teachers: number): string {
  const heads = teachers + 1;
  const decls = [
    ...Array.from({ length: heads }, (_, h) => `s${h}`),
    ...Array.from({ length: teachers }, (_, t) => `t${t}`),
  ].map((name, i) =>
    `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`
  );
  const labels = heads + teachers;
  // KL(p_t || q_s) at temperature tau for head h (teacher h - 1), and its
  // gradient tau / divisor · (q_s - p_t) times the head's weight.
  const distill = Array.from({ length: teachers }, (_, t) => {
    const h = t + 1;
    return `
    {
      var ms = s${h}[base] / info.tau;
      var mt = t${t}[base] / info.tau;
      for (var c = 1u; c < C; c = c + 1u) {
        ms = max(ms, s${h}[base + c] / info.tau);
        mt = max(mt, t${t}[base + c] / info.tau);
      }
      var zs = 0.0;
      var zt = 0.0;
      for (var c = 0u; c < C; c = c + 1u) {
        zs = zs + exp(s${h}[base + c] / info.tau - ms);
        zt = zt + exp(t${t}[base + c] / info.tau - mt);
      }
      let ls = log(zs);
      let lt = log(zt);
      var kl = 0.0;
      let w = weights[${t}];
      for (var c = 0u; c < C; c = c + 1u) {
        let logPt = t${t}[base + c] / info.tau - mt - lt;
        let logQs = s${h}[base + c] / info.tau - ms - ls;
        let pt = exp(logPt);
        kl = kl + pt * (logPt - logQs);
        out[2u + ${h}u * B * C + base + c] =
          w * info.tau / info.divisor * (exp(logQs) - pt);
      }
      loss = loss + w * info.tau * info.tau * kl / info.divisor;
    }`;
  }).join("");
  const maxes = Array.from({ length: teachers }, (_, t) => {
    const h = t + 1;
    return `
    var m${h} = s${h}[base];
    for (var c = 1u; c < C; c = c + 1u) { m${h} = max(m${h}, s${h}[base + c]); }
    var z${h} = 0.0;
    for (var c = 0u; c < C; c = c + 1u) { z${h} = z${h} + exp(s${h}[base + c] - m${h}); }`;
  }).join("");
  return `
struct Info {
  batch: u32, classes: u32, classWeight: f32, smoothing: f32,
  tau: f32, divisor: f32, pad0: u32, pad1: u32,
  weights: vec4<f32>,
}
${decls.join("\n")}
@group(0) @binding(${labels}) var<storage, read> labels: array<i32>;
@group(0) @binding(${labels + 1}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${labels + 2}) var<uniform> info: Info;
var<workgroup> lossAcc: array<f32, ${WORKGROUP}>;
var<workgroup> correctAcc: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32) {
  let B = info.batch;
  let C = info.classes;
  let weights = info.weights;
  var loss = 0.0;
  var correct = 0.0;
  for (var b = t; b < B; b = b + ${WORKGROUP}u) {
    let base = b * C;
    let y = u32(labels[b]);
    // class head: cross-entropy against (1 - e)·onehot + e / C
    var m0 = s0[base];
    for (var c = 1u; c < C; c = c + 1u) { m0 = max(m0, s0[base + c]); }
    var z0 = 0.0;
    for (var c = 0u; c < C; c = c + 1u) { z0 = z0 + exp(s0[base + c] - m0); }
    let l0 = log(z0);
    var ce = 0.0;
    ${maxes}
    for (var c = 0u; c < C; c = c + 1u) {
      let wanted = (1.0 - info.smoothing) * select(0.0, 1.0, c == y) +
        info.smoothing / f32(C);
      let logP = s0[base + c] - m0 - l0;
      ce = ce - wanted * logP;
      out[2u + base + c] = info.classWeight * (exp(logP) - wanted) / f32(B);
    }
    loss = loss + info.classWeight * ce / f32(B);
    ${distill}
    // the averaged heads' softmax (the logits alone for one head) picks the
    // predicted class; the first of equal values wins, as in tf.argMax
    var best = 0u;
    var bestValue = -3.4e38;
    for (var c = 0u; c < C; c = c + 1u) {
      ${
    teachers > 0
      ? `var p = exp(s0[base + c] - m0 - l0);${
        Array.from({ length: teachers }, (_, t) =>
          ` p = p + exp(s${t + 1}[base + c] - m${t + 1}) / z${t + 1};`).join("")
      }`
      : "let p = s0[base + c];"
  }
      if (p > bestValue) { best = c; bestValue = p; }
    }
    correct = correct + select(0.0, 1.0, best == y);
  }
  lossAcc[t] = loss;
  correctAcc[t] = correct;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) {
      lossAcc[t] = lossAcc[t] + lossAcc[t + k];
      correctAcc[t] = correctAcc[t] + correctAcc[t + k];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    out[0] = lossAcc[0];
    out[1] = correctAcc[0];
  }
}`;
}

const SPLIT = `
@group(0) @binding(0) var<storage, read> packed: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> correct: array<f32>;
@compute @workgroup_size(1)
fn main() {
  loss[0] = packed[0];
  correct[0] = packed[1];
}`;

function gradShader(heads: number): string {
  const decls = Array.from(
    { length: heads },
    (_, h) =>
      `@group(0) @binding(${
        h + 2
      }) var<storage, read_write> d${h}: array<f32>;`,
  );
  const writes = Array.from(
    { length: heads },
    (_, h) => `d${h}[i] = dy[0] * packed[2u + ${h}u * info.size + i];`,
  );
  return `
struct Info { size: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> packed: array<f32>;
${decls.join("\n")}
@group(0) @binding(${heads + 2}) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.size; i = i + stride) {
    ${writes.join("\n    ")}
  }
}`;
}

/** How many distillation heads the fused objective takes at most. */
export const FUSED_OBJECTIVE_MAX_TEACHERS = MAX_TEACHERS;

/** The largest class count the fused objective takes. */
export const FUSED_OBJECTIVE_MAX_CLASSES = 1024;

function inputsOf(inputs: Record<string, tf.TensorInfo>) {
  const heads: tf.TensorInfo[] = [];
  while (inputs[`head${heads.length}`]) {
    heads.push(inputs[`head${heads.length}`]);
  }
  const teachers: tf.TensorInfo[] = [];
  while (inputs[`teacher${teachers.length}`]) {
    teachers.push(inputs[`teacher${teachers.length}`]);
  }
  return { heads, teachers, labels: inputs.labels };
}

const objectiveWebGpu: tf.KernelConfig = {
  kernelName: OBJECTIVE,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { heads, teachers, labels } = inputsOf(
      inputs as Record<string, tf.TensorInfo>,
    );
    const a = attrs as unknown as ObjectiveAttrs;
    const [batch, classes] = heads[0].shape;
    if (
      heads.length !== teachers.length + 1 || teachers.length > MAX_TEACHERS ||
      classes > FUSED_OBJECTIVE_MAX_CLASSES || labels?.dtype !== "int32" ||
      [...heads, ...teachers].some((t) =>
        t.dtype !== "float32" || t.shape.length !== 2 ||
        t.shape[0] !== batch || t.shape[1] !== classes
      ) || labels.shape.length !== 1 || labels.shape[0] !== batch
    ) {
      throw new Error(
        `${OBJECTIVE}: needs 1 + T float32 heads and T (at most ${MAX_TEACHERS}) teachers of one shape [B, C <= ${FUSED_OBJECTIVE_MAX_CLASSES}] and int32 labels [B]; got heads [${
          heads.map((h) => `[${h.shape}]`)
        }], teachers [${
          teachers.map((t) => `[${t.shape}]`)
        }], labels ${labels?.dtype} [${labels?.shape}]`,
      );
    }
    const packed = backend.makeTensorInfo(
      [2 + heads.length * batch * classes],
      "float32",
    );
    const loss = backend.makeTensorInfo([], "float32");
    const correct = backend.makeTensorInfo([], "float32");
    const info = new ArrayBuffer(48);
    new Uint32Array(info, 0, 2).set([batch, classes]);
    new Float32Array(info, 8, 4).set([
      a.classWeight,
      a.labelSmoothing,
      a.tau,
      a.reduction === "deit" ? batch * classes : batch,
    ]);
    new Float32Array(info, 32, 4).set(
      [0, 1, 2, 3].map((i) => a.distillWeights[i] ?? 1),
    );
    encodeDispatch(
      backend,
      "VitkdObjective",
      pipelineFor(
        backend.device,
        `vitkd-objective-${teachers.length}`,
        forwardShader(teachers.length),
      ),
      [...heads, ...teachers, labels, packed],
      [uniformBuffer(backend, info)],
      [1],
    );
    encodeDispatch(
      backend,
      "VitkdObjectiveSplit",
      pipelineFor(backend.device, "vitkd-objective-split", SPLIT),
      [packed, loss, correct],
      [],
      [1],
    );
    return [loss, correct, packed];
  },
};

const objectiveGradWebGpu: tf.KernelConfig = {
  kernelName: OBJECTIVE_GRAD,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { dy, packed } = inputs as Record<string, tf.TensorInfo>;
    const { heads, batch, classes } = attrs as unknown as {
      heads: number;
      batch: number;
      classes: number;
    };
    const outs = Array.from(
      { length: heads },
      () => backend.makeTensorInfo([batch, classes], "float32"),
    );
    const size = batch * classes;
    if (size > 0) {
      encodeDispatch(
        backend,
        "VitkdObjectiveGrad",
        pipelineFor(
          backend.device,
          `vitkd-objective-grad-${heads}`,
          gradShader(heads),
        ),
        [dy, packed, ...outs],
        [uniformBuffer(backend, new Uint32Array([size, 0, 0, 0]).buffer)],
        [Math.min(4096, Math.ceil(size / WORKGROUP))],
      );
    }
    return outs;
  },
};

/** The gradient of {@linkcode OBJECTIVE}: each head's saved gradient times dy. */
export const objectiveGradient: tf.GradConfig = {
  kernelName: OBJECTIVE,
  outputsToSave: [false, false, true],
  gradFunc: (dys, saved, attrs) => {
    const [packed] = saved;
    const dy = (dys as tf.Tensor[])[0];
    const { headCount, batch, classes } = attrs as unknown as {
      headCount: number;
      batch: number;
      classes: number;
    };
    const grads = tf.engine().runKernel(
      OBJECTIVE_GRAD,
      { dy, packed },
      { heads: headCount, batch, classes },
    ) as tf.Tensor[];
    const out: Record<string, () => tf.Tensor> = {};
    grads.forEach((g, h) => out[`head${h}`] = () => g);
    return out;
  },
};

/** The fused objective's kernels for webgpu. */
export const OBJECTIVE_KERNELS_WEBGPU: readonly tf.KernelConfig[] = [
  objectiveWebGpu,
  objectiveGradWebGpu,
];

/**
 * The training objective and the count of correct rows in one kernel, where
 * the backend has it (webgpu after `initBackend`): `classWeight · CE(heads[0],
 * labels)` with label smoothing, plus `Σ_i w_i · tau² · KL(softmax(t_i / tau)
 * || softmax(heads[i+1] / tau))` divided by the batch (or batch × classes).
 * A row is correct when the mean of the heads' softmax (the class head's
 * logits alone for one head) picks its label. No gradient reaches the
 * teachers or the labels.
 *
 * @param heads The model's heads `[B, C]`, class head first.
 * @param labels Integer labels `[B]`.
 * @param teachers Teacher logits `[B, C]`, one per distillation head.
 * @param attrs The objective's weights, smoothing, temperature and reduction.
 * @returns The loss and the number of correct rows, as float32 scalars.
 */
export function fusedObjective(
  heads: Tensor2D[],
  labels: Tensor1D,
  teachers: Tensor2D[],
  attrs: ObjectiveAttrs,
): { loss: Scalar; correct: Scalar } {
  const inputs: tf.NamedTensorMap = { labels: tf.cast(labels, "int32") };
  heads.forEach((h, i) => inputs[`head${i}`] = h);
  teachers.forEach((t, i) => inputs[`teacher${i}`] = t);
  const [loss, correct, packed] = tf.engine().runKernel(OBJECTIVE, inputs, {
    ...attrs,
    headCount: heads.length,
    batch: heads[0].shape[0],
    classes: heads[0].shape[1],
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  packed.dispose();
  (inputs.labels as tf.Tensor).dispose();
  return { loss: loss as tf.Scalar, correct: correct as tf.Scalar };
}

/** Whether {@linkcode fusedObjective} runs on the active backend for `teachers` teachers and `classes` classes. */
export function hasFusedObjective(teachers: number, classes: number): boolean {
  return tf.getKernel(OBJECTIVE, tf.getBackend()) !== undefined &&
    teachers <= MAX_TEACHERS && classes <= FUSED_OBJECTIVE_MAX_CLASSES;
}
