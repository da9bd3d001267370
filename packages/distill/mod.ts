/**
 * Distillation of a Vision Transformer from stored (or live) teacher logits:
 * the losses (cross-entropy with label smoothing, soft and hard
 * distillation, the multi-teacher objective, an averaged-ensemble variant),
 * AdamW with decoupled weight decay, a cosine schedule with warmup, gradient
 * clipping, and a resumable training loop.
 *
 * ```ts ignore
 * import { openStore } from "@vitkd/logit-store";
 * import {
 *   cosineSchedule,
 *   evaluate,
 *   StoreLogitSource,
 *   Trainer,
 *   trainingBatches,
 * } from "@vitkd/distill";
 *
 * const reader = await openStore("runs/demo/logits.vkl");
 * const trainer = new Trainer({
 *   model: student, // 1 + T heads
 *   teachers: new StoreLogitSource(reader),
 *   loss: { kind: "multi", tau: 1 },
 *   optimizer: { weightDecay: 0.05 },
 *   schedule: cosineSchedule({ baseLearningRate: 1e-3, totalSteps, warmupSteps: 50 }),
 *   clipNorm: 1,
 *   seed: 7,
 * });
 * for (let epoch = trainer.epoch; epoch < 10; epoch++) {
 *   const result = await trainer.trainEpoch(trainingBatches(train, {
 *     batchSize: 64, seed: 7, epoch, normalization,
 *     augment: { padding: 2, flip: false },
 *     views: { views: reader.header.views, baseSeed: reader.header.baseSeed },
 *   }));
 *   console.log(result.loss, result.accuracy);
 * }
 * console.log(await evaluate(student, test, normalization));
 * ```
 *
 * @module
 */
export {
  crossEntropy,
  type CrossEntropyOptions,
  ensembleDistillation,
  expectedHeads,
  hardDistillation,
  type KlReduction,
  LOSS_KINDS,
  type LossConfig,
  type LossKind,
  objective,
  softDistillation,
  type SoftDistillationOptions,
} from "./loss.ts";
export {
  AdamW,
  type AdamWConfig,
  type AdamWState,
  defaultSkipDecay,
} from "./adamw.ts";
export {
  constantSchedule,
  cosineSchedule,
  type CosineScheduleOptions,
  type LearningRateSchedule,
} from "./schedule.ts";
export {
  clipByGlobalNorm,
  type ClippedGradients,
  type ClipScale,
  clipScale,
} from "./clip.ts";
export { chooseView } from "./views.ts";
export {
  type LiveTeacher,
  LiveTeacherSource,
  type StoreBatchReader,
  StoreLogitSource,
  type TeacherLogitSource,
  type TrainingBatch,
} from "./teacher_source.ts";
export {
  readTrainStep,
  readTrainSteps,
  trainStep,
  type TrainStepOptions,
  type TrainStepReading,
  type TrainStepResult,
} from "./step.ts";
export {
  type EpochResult,
  type StepProgress,
  type TrainEpochOptions,
  Trainer,
  type TrainerOptions,
  type TrainerState,
  type WeightState,
} from "./loop.ts";
export {
  CHECKPOINT_FILE,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  hasCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
export {
  evaluateBatches,
  type EvaluationBatch,
  type EvaluationResult,
} from "./evaluate.ts";
export {
  evaluate,
  type EvaluateOptions,
  trainingBatches,
  type TrainingBatchOptions,
  type ViewPlan,
} from "./batches.ts";
export {
  formatP,
  holmAdjust,
  mcnemarExact,
  mcnemarFromOutcomes,
  type McNemarTest,
  type PairedTTest,
  pairedTTest,
} from "./significance.ts";
export { decodeOutcomes, encodeOutcomes, predictOutcomes } from "./outcomes.ts";
export type {
  LayersModel,
  NamedTensorMap,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor4D,
  Variable,
} from "./tf_types.ts";
export {
  DistillError,
  type DistillErrorCode,
  type DistillErrorOptions,
} from "./errors.ts";
export type { AugmentSpec, ImageDataset, Normalization } from "@vitkd/data";
