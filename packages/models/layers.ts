/**
 * The layers vitkd's models are built from, for building other models: the
 * involution, batch norm and layer norm with fused kernels where the backend
 * has them, the ViT's patch and token embeddings, attention, drop path and
 * GELU, and the stem tokens that stand in for learned distillation tokens.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Involution } from "@vitkd/models/layers";
 *
 * await tf.setBackend("cpu");
 * const input = tf.input({ shape: [8, 8, 4] });
 * const output = new Involution({ kernelSize: 3, groupChannels: 4, seed: 1 })
 *   .apply(input) as tf.SymbolicTensor;
 * const model = tf.model({ inputs: input, outputs: output });
 * console.log(model.outputs[0].shape); // [null, 8, 8, 4]
 * ```
 *
 * @module
 */
export { AddRelu, type AddReluArgs } from "./add_relu.ts";
export { ConvAddRelu, type ConvAddReluArgs } from "./conv_add_relu.ts";
export {
  BatchNorm,
  type BatchNormArgs,
  batchNormTraining,
  type MovingStatisticsUpdate,
  updateMovingAverage,
  updateMovingStatistics,
} from "./batch_norm.ts";
export {
  Involution,
  type InvolutionAggregation,
  type InvolutionArgs,
} from "./involution.ts";
export { LayerNorm, layerNorm, type LayerNormArgs } from "./layer_norm.ts";
export { PatchEmbedding, type PatchEmbeddingArgs } from "./patch_embedding.ts";
export {
  DropPath,
  type DropPathArgs,
  Gelu,
  type GeluArgs,
  MultiHeadSelfAttention,
  type MultiHeadSelfAttentionArgs,
  SelectToken,
  type SelectTokenArgs,
  TokenEmbedding,
  type TokenEmbeddingArgs,
} from "./vit_layers.ts";
export {
  type DistillationTokenSource,
  InsertTokens,
  stemKinds,
  type StemTokenOptions,
  stemTokens,
} from "./stem_tokens.ts";
