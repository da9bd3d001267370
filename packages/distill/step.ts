/**
 * The distillation step, from a batch to the update: the file to read first.
 *
 * 1. **The batch** (`TrainingBatch`, made by `trainingBatches` in
 *    `batches.ts`): image indices, the stored view each image is shown this
 *    epoch (`chooseView` in `views.ts`), those views' augmented, normalised
 *    pixels, and the labels.
 * 2. **The teachers' logits** for exactly those (image, view) pairs, read
 *    from the logit store (`StoreLogitSource.logitsFor` in
 *    `teacher_source.ts`): no teacher runs during distillation.
 * 3. **{@linkcode trainStep}**, below: the student's forward pass gives
 *    1 + T heads (the class token's, then one per distillation token, in the
 *    teachers' order); the objective is
 *    `l0 * CE(class head, labels) + sum_t l_t * tau^2 * KL(softmax(z_t / tau) || softmax(h_t / tau))`
 *    (`objective` in `loss.ts`, or one fused kernel on WebGPU); then the
 *    gradients, the global-norm clip (`clip.ts`) and one AdamW update
 *    (`adamw.ts`).
 * 4. **The loop** (`Trainer.trainEpoch` in `loop.ts`) queues each step's
 *    scalars and reads them once every `readEvery` steps, since every read
 *    from a GPU blocks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedObjective, hasFusedObjective } from "@vitkd/backend";
import type { AdamW } from "./adamw.ts";
import { clipScale } from "./clip.ts";
import { expectedHeads, type LossConfig, objective } from "./loss.ts";
import type {
  LayersModel,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor4D,
} from "./tf_types.ts";

/** Options for {@linkcode trainStep}. */
export interface TrainStepOptions {
  /** The objective (default: `none` without teachers, `multi` with). */
  loss?: LossConfig;
  /** Learning rate of this step. */
  learningRate: number;
  /** Clip gradients to this global L2 norm; no clipping when absent. */
  clipNorm?: number;
}

/**
 * What one step did, as scalars still on the backend: reading them is left
 * to the caller, so a training loop on a GPU can read many steps at once
 * (every read from a GPU blocks, 10 ms or more in Deno).
 */
export interface TrainStepResult {
  /** The batch's loss before the update. */
  loss: Scalar;
  /** Rows whose prediction (mean of the heads' softmax) matched the label. */
  correct: Scalar;
  /** The gradients' global norm before clipping; absent when not clipping. */
  gradientNorm?: Scalar;
}

/**
 * One training step: forward in training mode, loss, gradients of the
 * optimizer's variables, optional clipping by global norm, one AdamW update.
 * Nothing is read back: the loss, the count of correct rows and the norm come
 * back as scalars (see {@linkcode readTrainSteps}), so a non-finite loss is
 * found when they are read. `teacherLogits` are read, not disposed.
 */
export function trainStep(
  model: LayersModel,
  optimizer: AdamW,
  x: Tensor4D,
  labels: Tensor1D,
  teacherLogits: Tensor2D[],
  options: TrainStepOptions,
): TrainStepResult {
  const loss: LossConfig = options.loss ??
    { kind: teacherLogits.length > 0 ? "multi" : "none" };
  checkObjectiveFits(model, x.shape[0], teacherLogits, loss);
  let correct: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const heads = headsOf(model.apply(x, { training: true }) as tf.Tensor);
    // the loss first: if it throws, nothing has been kept outside the scope
    const result = lossAndCorrect(heads, labels, teacherLogits, loss);
    correct = tf.keep(result.correct);
    return result.loss;
  }, [...optimizer.variables]);
  let gradientNorm: tf.Scalar | undefined;
  let scale: tf.Scalar | undefined;
  if (options.clipNorm !== undefined) {
    ({ globalNorm: gradientNorm, scale } = clipScale(grads, options.clipNorm));
  }
  optimizer.step(grads, options.learningRate, scale);
  tf.dispose(grads);
  scale?.dispose();
  return { loss: value, correct: correct!, gradientNorm };
}

/** A {@linkcode TrainStepResult} read into numbers. */
export interface TrainStepReading {
  /** The batch's loss before the update. */
  loss: number;
  /** Rows whose prediction matched the label. */
  correct: number;
  /** The gradients' global norm before clipping (NaN when not clipping). */
  gradientNorm: number;
}

/**
 * Reads a step's scalars with one asynchronous read and disposes them.
 *
 * @param result What {@linkcode trainStep} returned.
 * @returns The step's loss, correct rows and gradient norm as numbers.
 */
export async function readTrainStep(
  result: TrainStepResult,
): Promise<TrainStepReading> {
  const [reading] = await readTrainSteps([result]);
  return reading;
}

/**
 * Reads the scalars of several steps with a single GPU-to-CPU read and
 * disposes them.
 *
 * @param results What {@linkcode trainStep} returned, in step order.
 * @returns One reading per step, in the same order.
 */
export async function readTrainSteps(
  results: readonly TrainStepResult[],
): Promise<TrainStepReading[]> {
  if (results.length === 0) return [];
  const packed = tf.tidy(() =>
    tf.stack(results.flatMap((r) => [
      tf.cast(r.loss, "float32"),
      tf.cast(r.correct, "float32"),
      r.gradientNorm ?? tf.scalar(NaN),
    ]))
  );
  try {
    const values = await packed.data();
    return results.map((_, i) => ({
      loss: values[3 * i],
      correct: values[3 * i + 1],
      gradientNorm: values[3 * i + 2],
    }));
  } finally {
    packed.dispose();
    for (const r of results) tf.dispose([r.loss, r.correct, r.gradientNorm]);
  }
}

/** The model's outputs as a list of `[B, C]` heads. */
export function headsOf(output: Tensor | Tensor[]): Tensor2D[] {
  return (Array.isArray(output) ? output : [output]) as tf.Tensor2D[];
}

/** Rows of `heads` whose mean softmax picks `labels`' class, as a scalar. */
export function countCorrect(
  heads: Tensor2D[],
  labels: Tensor1D,
): Scalar {
  return tf.tidy(() => {
    const probs = heads.length === 1
      ? heads[0]
      : tf.addN(heads.map((h) => tf.softmax(h)));
    return tf.sum(
      tf.cast(tf.equal(tf.argMax(probs, 1), tf.cast(labels, "int32")), "int32"),
    ) as tf.Scalar;
  });
}

/**
 * The objective and the rows whose prediction matched the label. Where the
 * backend has the fused kernel (WebGPU) and the objective is `multi` or
 * `none` with one head, both come from one kernel (2 dispatches, ~90
 * composed); elsewhere from {@linkcode objective} and
 * {@linkcode countCorrect}. The same values to float rounding.
 *
 * @param heads The model's heads, class head first.
 * @param labels Integer labels.
 * @param teacherLogits One `[B, C]` tensor per distillation head.
 * @param loss The objective's configuration.
 * @returns The loss and the count of correct rows, as scalars.
 */
export function lossAndCorrect(
  heads: Tensor2D[],
  labels: Tensor1D,
  teacherLogits: Tensor2D[],
  loss: LossConfig,
): { loss: Scalar; correct: Scalar } {
  const kind = loss.kind ?? "multi";
  const classes = heads[0].shape[1];
  const fusedFits = (kind === "multi" &&
    heads.length === teacherLogits.length + 1) ||
    (kind === "none" && heads.length === 1);
  const teachers = kind === "multi" ? teacherLogits : [];
  const tau = loss.tau ?? 1;
  const smoothing = loss.labelSmoothing ?? 0;
  // out-of-range settings take the composed path, whose checks name them
  const valid = tau > 0 && Number.isFinite(tau) && smoothing >= 0 &&
    smoothing < 1;
  if (valid && fusedFits && hasFusedObjective(teachers.length, classes)) {
    return fusedObjective(heads, labels, teachers, {
      classWeight: loss.classWeight ?? 1,
      labelSmoothing: smoothing,
      tau,
      distillWeights: teachers.map((_, i) => loss.distillWeights?.[i] ?? 1),
      reduction: loss.reduction ?? "batchmean",
    });
  }
  return {
    loss: objective(heads, labels, teacherLogits, loss),
    correct: countCorrect(heads, labels),
  };
}

/**
 * Checks, before any gradient is taken, that the model's heads and the
 * teacher logits fit the loss: tfjs leaks the gradient tape's tensors when
 * the function under `variableGrads` throws, so shape errors must surface
 * here.
 */
export function checkObjectiveFits(
  model: LayersModel,
  rows: number,
  teacherLogits: Tensor2D[],
  loss: LossConfig,
): void {
  const kind = loss.kind ?? "multi";
  const heads = model.outputs.length;
  if (kind !== "none") {
    if (teacherLogits.length === 0) {
      throw new Error(
        `trainStep: loss "${kind}" needs teacher logits, got none`,
      );
    }
    const wanted = expectedHeads(kind, teacherLogits.length);
    if (heads !== wanted) {
      throw new Error(
        `trainStep: loss "${kind}" with ${teacherLogits.length} teacher(s) expects ${wanted} model heads (class head + ${
          wanted - 1
        } distillation), the model "${model.name}" has ${heads}`,
      );
    }
  }
  const classes = model.outputs[0].shape[1];
  teacherLogits.forEach((t, i) => {
    if (t.rank !== 2 || t.shape[0] !== rows || t.shape[1] !== classes) {
      throw new Error(
        `trainStep: teacher ${i} logits have shape [${t.shape}], expected [${rows}, ${classes}] (batch rows x the model's classes)`,
      );
    }
  });
}
