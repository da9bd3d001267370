import * as tf from "@tensorflow/tfjs";
import { augmentInto, type AugmentSpec } from "./augment.ts";
import { DataError } from "./errors.ts";
import { computeNormalization, normalizeToFloat32 } from "./normalize.ts";
import { createRng, hashSeed, viewSeed } from "./rng.ts";
import type { ImageDataset, Normalization } from "./types.ts";
import type { Tensor1D, Tensor4D } from "./tf_types.ts";

/** Options of `iterateBatches`. */
export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** Base seed of the shuffle and of the default view seeds; default 0. */
  seed?: number;
  /** Epoch number: each epoch has its own order; default 0. */
  epoch?: number;
  /** Shuffle the order (default true); otherwise dataset order. */
  shuffle?: boolean;
  /** Augment each image with this spec; no augmentation when absent. */
  augment?: AugmentSpec;
  /** Seed of the view of dataset image `index`; default `viewSeed(seed, index, epoch)`. */
  viewSeedFor?: (index: number) => number;
  /** Normalisation; default computed from `ds`. */
  normalization?: Normalization;
  /** Drop a last batch smaller than `batchSize`; default false. */
  dropLast?: boolean;
}

/** A batch's CPU-side data, ready to become tensors. */
export interface HostBatch {
  /** Normalised pixels `[size, h, w, c]`. */
  x: Float32Array;
  /** Labels. */
  labels: Int32Array;
  /** Dataset index of each row. */
  indices: Int32Array;
  /** View seed of each row (what `augmentImage` got; reported even without augmentation). */
  viewSeeds: Uint32Array;
}

/** One batch as tensors; the caller disposes it (`dispose()`). */
export interface Batch {
  /** Normalised images, float32 `[size, h, w, c]`. */
  x: Tensor4D;
  /** Labels, int32 `[size]`. */
  y: Tensor1D;
  /** Dataset index of each row: where to look up stored logits. */
  indices: Int32Array;
  /** View seed of each row. */
  viewSeeds: Uint32Array;
  /** Rows in this batch. */
  size: number;
  /** Position of this batch in the epoch. */
  batchIndex: number;
  /** Disposes `x` and `y`. */
  dispose(): void;
}

/** What `iterateBatches` returns: an async iterator of one epoch's batches. */
export type BatchIterator = AsyncGenerator<Batch, void, undefined>;

/** Number of batches of an epoch. */
export function countBatches(
  count: number,
  batchSize: number,
  dropLast = false,
): number {
  return dropLast
    ? Math.floor(count / batchSize)
    : Math.ceil(count / batchSize);
}

/** The order of an epoch: a seeded permutation of `0..count-1`, or identity. */
export function epochOrder(
  count: number,
  seed: number,
  epoch: number,
  shuffle = true,
): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (shuffle) createRng(hashSeed(seed, epoch)).shuffle(order);
  return order;
}

/**
 * Gathers, augments and normalises the images at `indices` on the CPU: what
 * one batch needs before it becomes tensors (also usable by precompute).
 */
export function prepareHostBatch(
  ds: ImageDataset,
  indices: Int32Array,
  norm: Normalization,
  augment: AugmentSpec | undefined,
  seedFor: (index: number) => number,
): HostBatch {
  const size = ds.height * ds.width * ds.channels;
  const shape = { height: ds.height, width: ds.width, channels: ds.channels };
  const u8 = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  const viewSeeds = new Uint32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const index = indices[r];
    const seed = seedFor(index) >>> 0;
    viewSeeds[r] = seed;
    labels[r] = ds.labels[index];
    if (augment) {
      augmentInto(ds.images, index * size, shape, augment, seed, u8, r * size);
    } else {
      u8.set(ds.images.subarray(index * size, (index + 1) * size), r * size);
    }
  }
  return {
    x: normalizeToFloat32(u8, ds.channels, norm),
    labels,
    indices,
    viewSeeds,
  };
}

/**
 * Yields an epoch of batches, shuffled from (seed, epoch). While the caller
 * works on batch k, batch k+1 is prepared on the CPU in a macrotask, so it
 * overlaps any await in the training step (GPU work, data readback). The
 * caller owns each batch's tensors and disposes them.
 */
export async function* iterateBatches(
  ds: ImageDataset,
  opts: BatchOptions,
): BatchIterator {
  const { batchSize } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DataError(
      `batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const seed = opts.seed ?? 0;
  const epoch = opts.epoch ?? 0;
  const norm = opts.normalization ?? computeNormalization(ds);
  const seedFor = opts.viewSeedFor ?? ((i: number) => viewSeed(seed, i, epoch));
  const order = epochOrder(ds.count, seed, epoch, opts.shuffle ?? true);
  const total = countBatches(ds.count, batchSize, opts.dropLast);
  const prepare = (k: number): HostBatch =>
    prepareHostBatch(
      ds,
      order.slice(k * batchSize, Math.min(ds.count, (k + 1) * batchSize)),
      norm,
      opts.augment,
      seedFor,
    );

  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (k: number): Promise<HostBatch> => {
    const promise = new Promise<HostBatch>((resolve, reject) => {
      timer = setTimeout(() => {
        timer = undefined;
        try {
          resolve(prepare(k));
        } catch (error) {
          reject(error);
        }
      }, 0);
    });
    // Not swallowed: the error surfaces when the batch is awaited; this only
    // keeps a batch that is never awaited from being an unhandled rejection.
    promise.catch(() => {});
    return promise;
  };

  try {
    let next: Promise<HostBatch> | undefined = total > 0
      ? Promise.resolve(prepare(0))
      : undefined;
    for (let k = 0; k < total; k++) {
      const host: HostBatch = await next!;
      next = k + 1 < total ? schedule(k + 1) : undefined;
      const rows = host.indices.length;
      const x = tf.tensor4d(host.x, [rows, ds.height, ds.width, ds.channels]);
      const y = tf.tensor1d(host.labels, "int32");
      yield {
        x,
        y,
        indices: host.indices,
        viewSeeds: host.viewSeeds,
        size: rows,
        batchIndex: k,
        dispose: () => {
          x.dispose();
          y.dispose();
        },
      };
    }
  } finally {
    // an abandoned loop must not leave a prefetch timer behind
    if (timer !== undefined) clearTimeout(timer);
  }
}
