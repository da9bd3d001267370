import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor1D, Tensor2D } from "./tf_types.ts";

/** How a summed KL divergence is turned into the batch's loss. */
export type KlReduction = "batchmean" | "deit";

/** Options for {@linkcode crossEntropy}. */
export interface CrossEntropyOptions {
  /** Mass spread evenly over all classes, in [0, 1); 0 (the default) is plain cross-entropy. */
  labelSmoothing?: number;
}

/** Identity whose gradient is zero: teacher logits are targets, not parameters. */
const stopGradient = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }),
) as (x: tf.Tensor) => tf.Tensor;

function assertLogits(name: string, logits: tf.Tensor): void {
  if (logits.rank !== 2) {
    throw new Error(
      `${name}: expected logits of rank 2 [batch, classes], got shape [${logits.shape}]`,
    );
  }
}

function assertSameShape(
  name: string,
  student: tf.Tensor,
  teacher: tf.Tensor,
): void {
  assertLogits(`${name} student`, student);
  assertLogits(`${name} teacher`, teacher);
  if (
    student.shape[0] !== teacher.shape[0] ||
    student.shape[1] !== teacher.shape[1]
  ) {
    throw new Error(
      `${name}: student logits [${student.shape}] and teacher logits [${teacher.shape}] differ in shape`,
    );
  }
}

/**
 * Mean cross-entropy of `logits` [B, C] against integer `labels` [B], with
 * optional label smoothing: the target is `(1 - e) * onehot(y) + e / C`.
 * Computed from log-softmax, so it stays finite for logits of any magnitude.
 */
export function crossEntropy(
  logits: Tensor2D,
  labels: Tensor1D,
  options: CrossEntropyOptions = {},
): Scalar {
  assertLogits("crossEntropy", logits);
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) {
    throw new Error(
      `crossEntropy: labelSmoothing must be in [0, 1), got ${smoothing}`,
    );
  }
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(
      `crossEntropy: expected ${
        logits.shape[0]
      } labels of rank 1, got shape [${labels.shape}]`,
    );
  }
  const classes = logits.shape[1];
  return tf.tidy(() => {
    const target = tf.oneHot(tf.cast(labels, "int32"), classes).mul(
      1 - smoothing,
    ).add(smoothing / classes);
    const perExample = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1));
    return tf.mean(perExample) as tf.Scalar;
  });
}

/** Options for {@linkcode softDistillation}. */
export interface SoftDistillationOptions {
  /** Temperature tau (default 1). */
  tau?: number;
  /**
   * `batchmean` (default) divides the summed KL by the batch size; `deit`
   * divides it by batch x classes, as DeiT's reference code does.
   */
  reduction?: KlReduction;
}

function klFromLogProbabilities(
  teacherLogProb: tf.Tensor2D,
  studentLogProb: tf.Tensor2D,
  tau: number,
  reduction: KlReduction,
): tf.Scalar {
  const [batch, classes] = studentLogProb.shape;
  const summed = tf.sum(
    tf.mul(tf.exp(teacherLogProb), tf.sub(teacherLogProb, studentLogProb)),
  );
  const divisor = reduction === "deit" ? batch * classes : batch;
  return tf.mul(summed, (tau * tau) / divisor) as tf.Scalar;
}

function checkTau(name: string, tau: number): void {
  if (!(tau > 0) || !Number.isFinite(tau)) {
    throw new Error(`${name}: tau must be a positive number, got ${tau}`);
  }
}

/**
 * Soft distillation: `tau^2 * KL(softmax(t / tau) || softmax(s / tau))`.
 * Both distributions are handled as log-probabilities, so logits of
 * magnitude 1e4 neither overflow nor produce NaN. No gradient flows into the
 * teacher logits.
 */
export function softDistillation(
  studentLogits: Tensor2D,
  teacherLogits: Tensor2D,
  options: SoftDistillationOptions = {},
): Scalar {
  assertSameShape("softDistillation", studentLogits, teacherLogits);
  const tau = options.tau ?? 1;
  checkTau("softDistillation", tau);
  return tf.tidy(() => {
    const teacherLogProb = tf.logSoftmax(
      tf.div(stopGradient(teacherLogits), tau),
    ) as tf.Tensor2D;
    return klToStudent(teacherLogProb, studentLogits, tau, options.reduction);
  });
}

/** Hard distillation: cross-entropy of the student against the teacher's argmax. */
export function hardDistillation(
  studentLogits: Tensor2D,
  teacherLogits: Tensor2D,
): Scalar {
  assertSameShape("hardDistillation", studentLogits, teacherLogits);
  return tf.tidy(() =>
    crossEntropy(studentLogits, tf.argMax(teacherLogits, 1) as tf.Tensor1D)
  );
}

/**
 * Soft distillation against an averaged ensemble: the target is the mean of
 * the teachers' tempered probabilities, formed in log space (log-sum-exp) so
 * no probability underflows to log(0).
 */
export function ensembleDistillation(
  studentLogits: Tensor2D,
  teacherLogits: Tensor2D[],
  options: SoftDistillationOptions = {},
): Scalar {
  if (teacherLogits.length === 0) {
    throw new Error("ensembleDistillation: needs at least one teacher");
  }
  teacherLogits.forEach((t, i) =>
    assertSameShape(`ensembleDistillation teacher ${i}`, studentLogits, t)
  );
  const tau = options.tau ?? 1;
  checkTau("ensembleDistillation", tau);
  return tf.tidy(() => {
    const stacked = tf.stack(
      teacherLogits.map((t) => tf.logSoftmax(tf.div(stopGradient(t), tau))),
    );
    const ensembleLogProb = tf.sub(
      tf.logSumExp(stacked, 0),
      Math.log(teacherLogits.length),
    ) as tf.Tensor2D;
    return klToStudent(ensembleLogProb, studentLogits, tau, options.reduction);
  });
}

/** The tempered KL from a target's log-probabilities to the student's. */
function klToStudent(
  targetLogProb: tf.Tensor2D,
  studentLogits: Tensor2D,
  tau: number,
  reduction: KlReduction = "batchmean",
): Scalar {
  const studentLogProb = tf.logSoftmax(
    tf.div(studentLogits, tau),
  ) as tf.Tensor2D;
  return klFromLogProbabilities(targetLogProb, studentLogProb, tau, reduction);
}

/**
 * Which objective trains the model:
 * - `multi`: one distillation token per teacher, soft KL per token;
 * - `hard`: one token per teacher, CE against each teacher's argmax;
 * - `ensemble`: one token, soft KL against the teachers' mean probabilities;
 * - `none`: cross-entropy on the class head only (teachers and plain models).
 */
export type LossKind = "multi" | "hard" | "ensemble" | "none";

/** The loss names {@linkcode objective} accepts. */
export const LOSS_KINDS: readonly LossKind[] = [
  "multi",
  "hard",
  "ensemble",
  "none",
];

/** Configuration of the training objective. */
export interface LossConfig {
  /** Which objective (default `multi`). */
  kind?: LossKind;
  /** Temperature tau of the soft terms (default 1). */
  tau?: number;
  /** Weight l0 of the class head's cross-entropy (default 1). */
  classWeight?: number;
  /**
   * Weights l_i of the distillation terms, one per distillation head
   * (default 1 each); `ensemble` uses the first.
   */
  distillWeights?: number[];
  /** Label smoothing of the class head's cross-entropy (default 0). */
  labelSmoothing?: number;
  /** Reduction of the soft KL terms (default `batchmean`). */
  reduction?: KlReduction;
}

/** How many model heads and teachers a loss kind expects. */
export function expectedHeads(kind: LossKind, teacherCount: number): number {
  switch (kind) {
    case "none":
      return 1;
    case "ensemble":
      return 2;
    default:
      return 1 + teacherCount;
  }
}

/**
 * The training objective
 * `L = l0 * CE(s_cls, y) + sum_i l_i * D(s_i, t_i)`, where `outputs` are the
 * model's heads (class head first) and `teacherLogits` the teachers' logits
 * in the same order as the distillation heads. `none` ignores the teachers
 * and any extra heads.
 */
export function objective(
  outputs: Tensor2D[],
  labels: Tensor1D,
  teacherLogits: Tensor2D[],
  config: LossConfig = {},
): Scalar {
  const kind = config.kind ?? "multi";
  if (!LOSS_KINDS.includes(kind)) {
    throw new Error(
      `objective: unknown loss kind "${kind}", expected one of ${
        LOSS_KINDS.join(", ")
      }`,
    );
  }
  if (outputs.length === 0) {
    throw new Error("objective: the model has no outputs");
  }
  const classWeight = config.classWeight ?? 1;
  const soft = { tau: config.tau ?? 1, reduction: config.reduction };
  if (kind !== "none") {
    if (teacherLogits.length === 0) {
      throw new Error(
        `objective: loss "${kind}" needs teacher logits, got none`,
      );
    }
    const heads = expectedHeads(kind, teacherLogits.length);
    if (outputs.length !== heads) {
      throw new Error(
        `objective: loss "${kind}" with ${teacherLogits.length} teacher(s) expects ${heads} model heads (class head + ${
          heads - 1
        } distillation), got ${outputs.length}`,
      );
    }
  }
  const weights = config.distillWeights ?? [];
  const weightOf = (i: number): number => weights[i] ?? 1;
  return tf.tidy(() => {
    let total: tf.Tensor = tf.mul(
      crossEntropy(outputs[0], labels, {
        labelSmoothing: config.labelSmoothing,
      }),
      classWeight,
    );
    if (kind === "ensemble") {
      total = tf.add(
        total,
        tf.mul(
          ensembleDistillation(outputs[1], teacherLogits, soft),
          weightOf(0),
        ),
      );
    } else if (kind !== "none") {
      teacherLogits.forEach((teacher, i) => {
        const term = kind === "hard"
          ? hardDistillation(outputs[i + 1], teacher)
          : softDistillation(outputs[i + 1], teacher, soft);
        total = tf.add(total, tf.mul(term, weightOf(i)));
      });
    }
    return total as tf.Scalar;
  });
}
