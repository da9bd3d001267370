/**
 * The stored-logits file format: teachers run once over every augmented view
 * of the training set, and the student reads their logits instead of running
 * them again. Writing ({@linkcode precompute}) is chunked, checksummed,
 * atomic, resumable and shardable ({@linkcode mergeShards}); reading
 * ({@linkcode openStore}) is random access by offset with bounded memory;
 * {@linkcode verifyStore} and {@linkcode inspectStore} check and summarise a
 * store. The format is documented in `docs/logit-store-format.md`.
 *
 * ```ts ignore
 * import { openStore, precompute } from "@vitkd/logit-store";
 *
 * await precompute({
 *   path: "runs/demo/logits.vkl", dataset, teachers, views: 4,
 *   augmentation: { padding: 4, flip: true }, baseSeed: 7, normalization,
 *   encoding: { kind: "dense", dtype: "float16" },
 * });
 * const reader = await openStore("runs/demo/logits.vkl", {
 *   expect: { datasetFingerprint: dataset.fingerprint, teachers },
 * });
 * const perTeacher = reader.readBatch(imageIndices, viewIndices); // [B*C] each
 * reader.close();
 * ```
 *
 * @module
 */
export * from "./crc32.ts";
export * from "./encoding.ts";
export * from "./errors.ts";
export * from "./float16.ts";
export * from "./format.ts";
export * from "./inspect.ts";
export * from "./merge.ts";
export * from "./precompute.ts";
export * from "./reader.ts";
export * from "./verify.ts";
export * from "./tf_types.ts";
export type { AugmentSpec, ImageDataset, Normalization } from "@vitkd/data";
