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
export * from "./loss.ts";
export * from "./adamw.ts";
export * from "./schedule.ts";
export * from "./clip.ts";
export * from "./views.ts";
export * from "./teacher_source.ts";
export * from "./step.ts";
export * from "./loop.ts";
export * from "./checkpoint.ts";
export {
  DistillError,
  type DistillErrorCode,
  type DistillErrorOptions,
} from "./errors.ts";
export * from "./evaluate.ts";
export * from "./batches.ts";
export * from "./significance.ts";
export * from "./outcomes.ts";
export * from "./tf_types.ts";
export type { AugmentSpec, ImageDataset, Normalization } from "@vitkd/data";
