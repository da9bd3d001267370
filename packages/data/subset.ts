import { DataError } from "./errors.ts";
import { createRng, hashSeed } from "./rng.ts";
import type { ImageDataset } from "./types.ts";

/** A data set drawn from another; `sourceIndices[i]` is image `i`'s index in the source. */
export interface SubsetDataset extends ImageDataset {
  /** Index in the source data set of each image, ascending. */
  sourceIndices: Int32Array;
}

/**
 * Copies the images at `indices` (in that order) into a new data set whose
 * fingerprint is the source's plus `spec`.
 */
export function selectImages(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  spec: string,
): SubsetDataset {
  const size = ds.height * ds.width * ds.channels;
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  const sourceIndices = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= ds.count) {
      throw new DataError(
        `selectImages: index ${index} out of range 0..${
          ds.count - 1
        } of ${ds.name}`,
      );
    }
    images.set(ds.images.subarray(index * size, (index + 1) * size), i * size);
    labels[i] = ds.labels[index];
    sourceIndices[i] = index;
  }
  return {
    name: `${ds.name}[${spec}]`,
    images,
    labels,
    count: indices.length,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    classNames: [...ds.classNames],
    fingerprint: `${ds.fingerprint}+${spec}`,
    sourceIndices,
  };
}

/**
 * A low-data subset: `perClass` images of every class, chosen from `seed`
 * alone (the same seed always picks the same images), kept in source order.
 * Throws if a class has fewer than `perClass` images.
 */
export function subsetPerClass(
  ds: ImageDataset,
  perClass: number,
  seed: number,
): SubsetDataset {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new DataError(
      `subsetPerClass: perClass must be a positive integer, got ${perClass}`,
    );
  }
  const byClass: number[][] = ds.classNames.map(() => []);
  for (let i = 0; i < ds.count; i++) {
    const label = ds.labels[i];
    if (label < 0 || label >= byClass.length) {
      throw new DataError(
        `subsetPerClass: image ${i} of ${ds.name} has label ${label}, outside 0..${
          byClass.length - 1
        }`,
      );
    }
    byClass[label].push(i);
  }
  const chosen: number[] = [];
  byClass.forEach((indices, label) => {
    if (indices.length < perClass) {
      throw new DataError(
        `subsetPerClass: class "${
          ds.classNames[label]
        }" of ${ds.name} has ${indices.length} images, fewer than the ${perClass} asked for`,
      );
    }
    // one stream per class: a class's pick does not depend on other classes
    const rng = createRng(hashSeed(seed, label));
    chosen.push(...rng.shuffle(indices).slice(0, perClass));
  });
  chosen.sort((a, b) => a - b);
  return selectImages(ds, chosen, `per-class=${perClass},seed=${seed}`);
}

/**
 * A held-out subset: `perClass` images of every class chosen from `seed`
 * among the images whose indices are not in `exclude` (e.g. a training
 * subset's `sourceIndices`), kept in source order. This is how a validation
 * split is carved from the training images a low-data run leaves unused, so
 * that choices never look at the test set. Throws if a class has too few.
 */
export function holdOutPerClass(
  ds: ImageDataset,
  perClass: number,
  seed: number,
  exclude: ArrayLike<number>,
): SubsetDataset {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new DataError(
      `holdOutPerClass: perClass must be a positive integer, got ${perClass}`,
    );
  }
  const excluded = new Uint8Array(ds.count);
  for (let i = 0; i < exclude.length; i++) excluded[exclude[i]] = 1;
  const byClass: number[][] = ds.classNames.map(() => []);
  for (let i = 0; i < ds.count; i++) {
    if (!excluded[i]) byClass[ds.labels[i]]?.push(i);
  }
  const chosen: number[] = [];
  byClass.forEach((indices, label) => {
    if (indices.length < perClass) {
      throw new DataError(
        `holdOutPerClass: class "${
          ds.classNames[label]
        }" of ${ds.name} has ${indices.length} unused images, fewer than the ${perClass} asked for`,
      );
    }
    const rng = createRng(hashSeed(seed, label, 0x686f6c64));
    chosen.push(...rng.shuffle(indices).slice(0, perClass));
  });
  chosen.sort((a, b) => a - b);
  return selectImages(ds, chosen, `holdout=${perClass},seed=${seed}`);
}
