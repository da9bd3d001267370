/**
 * Models of vitkd: the involution layer, the ResNet / RedNet teachers, the
 * ViT student with one distillation token per teacher, a registry that builds
 * any of them by name, parameter and FLOP counts, and a model folder format
 * (`model.json` + `weights.bin` + `meta.json`). The layers the models are
 * built from are in `@vitkd/models/layers`.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "@vitkd/backend";
 * import { buildModel, modelStats, predictProbabilities } from "@vitkd/models";
 *
 * await initBackend({ backend: "auto" });
 * const student = buildModel("vit-small", { numDistillationTokens: 2, seed: 1 });
 * console.log(modelStats(student)); // { parameters: 814238, ... }
 * const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D; // normalised input
 * predictProbabilities(student, x).print();
 * ```
 *
 * @module
 */
export {
  buildModel,
  hasModel,
  listModels,
  type ModelBuilder,
  type ModelListing,
  type ModelRole,
  registerModel,
  resolveOptions,
} from "./registry.ts";
export type {
  CommonModelOptions,
  ModelOptions,
  ResNetOptions,
  VitOptions,
} from "./options.ts";
export { buildResNet, type SpatialOperator } from "./resnet.ts";
export { buildVit } from "./vit.ts";
export { layerFlops, type ModelStats, modelStats } from "./stats.ts";
export { predictLogitsPerHead, predictProbabilities } from "./predict.ts";
export { foldBatchNorm, type FoldedModel } from "./fold_batch_norm.ts";
export {
  denoFolderHandler,
  type InputNormalization,
  loadModel,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  type ModelInput,
  type ModelMeta,
  type ModelMetaInput,
  readModelMeta,
  saveModel,
  weightFingerprint,
} from "./persistence.ts";
export {
  ModelError,
  type ModelErrorCode,
  type ModelErrorOptions,
} from "./errors.ts";
export { SeedStream } from "./seeds.ts";
export {
  Involution,
  type InvolutionAggregation,
  type InvolutionArgs,
} from "./involution.ts";
export type { DistillationTokenSource } from "./stem_tokens.ts";
export type {
  ConfigDict,
  IOHandler,
  Layer,
  LayersModel,
  LayerVariable,
  Shape,
  SymbolicTensor,
  Tensor,
  Tensor2D,
  Tensor4D,
} from "./tf_types.ts";
