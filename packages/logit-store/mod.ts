/**
 * The stored-logits file format: teachers run once over every augmented view
 * of the training set, and the student reads their logits instead of running
 * them again. Writing ({@linkcode precompute}) is chunked, checksummed,
 * atomic, resumable and shardable ({@linkcode mergeShards}); reading
 * ({@linkcode openStore}) is random access by offset with bounded memory;
 * {@linkcode verifyStore} and {@linkcode inspectStore} check and summarise a
 * store. The format is documented in `docs/logit-store-format.md`; its
 * low-level parts are `@vitkd/logit-store/format` (layout, header, checks)
 * and `@vitkd/logit-store/encoding` (how logits become bytes).
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
export {
  precompute,
  type PrecomputeOptions,
  type PrecomputeProgress,
  type PrecomputeResult,
  type StoreTeacher,
  storeTeacherFromModel,
} from "./precompute.ts";
export {
  openStore,
  type OpenStoreOptions,
  type StoreExpectation,
  StoreReader,
} from "./reader.ts";
export { type VerifyReport, verifyStore } from "./verify.ts";
export {
  formatInspect,
  type InspectReport,
  inspectStore,
  type TeacherStats,
} from "./inspect.ts";
export { type MergeOptions, type MergeResult, mergeShards } from "./merge.ts";
export { LogitStoreError } from "./errors.ts";
export {
  describeEncoding,
  type StoreDtype,
  type StoreEncoding,
} from "./encoding.ts";
export type {
  ShardSpec,
  StoreHeader,
  StoreLayout,
  StoreTeacherInfo,
} from "./format.ts";
export type { LayersModel, Tensor2D, Tensor4D } from "./tf_types.ts";
export type { AugmentSpec, ImageDataset, Normalization } from "@vitkd/data";
