import {
  type AugmentSpec,
  type ImageDataset,
  iterateBatches,
  type Normalization,
  viewSeed,
} from "@vitkd/data";
import { evaluateBatches, type EvaluationResult } from "./evaluate.ts";
import type { TrainingBatch } from "./teacher_source.ts";
import { chooseView } from "./views.ts";
import type { LayersModel } from "./tf_types.ts";

/** The stored views a run draws from: those a logit store was written with. */
export interface ViewPlan {
  /** Views per image V in the store. */
  views: number;
  /** The store's base seed: view v of image i uses `viewSeed(baseSeed, i, v)`. */
  baseSeed: number;
}

/** Options of {@linkcode trainingBatches}. */
export interface TrainingBatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** The run's seed: shuffles and view choices derive from it. */
  seed: number;
  /** The epoch (0-based). */
  epoch: number;
  /** Normalisation of the inputs (the store's, when distilling from one). */
  normalization: Normalization;
  /** Augmentation spec (the store's, when distilling from one); none when absent. */
  augment?: AugmentSpec;
  /**
   * Train on stored views: image i in epoch e is augmented as view
   * `chooseView(seed, e, i, views)` of the store, the exact view its
   * teachers' logits were computed on. Absent: a fresh view per epoch.
   */
  views?: ViewPlan;
  /** Shuffle (default true). */
  shuffle?: boolean;
  /** Drop a last partial batch (default false). */
  dropLast?: boolean;
}

/**
 * The batches of one epoch, as the {@linkcode Trainer} consumes them: the
 * data package's shuffled, augmented, normalised batches plus, with `views`,
 * the stored view index of every row. The consumer disposes `x` and `y`.
 */
export async function* trainingBatches(
  dataset: ImageDataset,
  options: TrainingBatchOptions,
): AsyncGenerator<TrainingBatch, void, undefined> {
  const { seed, epoch, views } = options;
  const viewOf = views
    ? (index: number): number => chooseView(seed, epoch, index, views.views)
    : undefined;
  for await (
    const batch of iterateBatches(dataset, {
      batchSize: options.batchSize,
      seed,
      epoch,
      shuffle: options.shuffle ?? true,
      augment: options.augment,
      normalization: options.normalization,
      dropLast: options.dropLast,
      viewSeedFor: views && viewOf
        ? (index: number) => viewSeed(views.baseSeed, index, viewOf(index))
        : undefined,
    })
  ) {
    yield {
      x: batch.x,
      y: batch.y,
      indices: batch.indices,
      viewIndices: viewOf ? Int32Array.from(batch.indices, viewOf) : undefined,
    };
  }
}

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Images per forward pass (default 256). */
  batchSize?: number;
  /** Called after each batch with the images evaluated so far. */
  onProgress?: (done: number) => void;
}

/**
 * Accuracy of `model` on `dataset` (un-augmented, in order): of each head
 * and of the averaged heads for a student, of the single head for a teacher.
 */
export async function evaluate(
  model: LayersModel,
  dataset: ImageDataset,
  normalization: Normalization,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const batches = iterateBatches(dataset, {
    batchSize: options.batchSize ?? 256,
    shuffle: false,
    normalization,
  });
  let done = 0;
  async function* owned() {
    for await (const batch of batches) {
      try {
        yield batch;
      } finally {
        batch.dispose();
      }
      done += batch.size;
      options.onProgress?.(done);
    }
  }
  return await evaluateBatches(model, owned());
}
