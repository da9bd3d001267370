import * as tf from "@tensorflow/tfjs";
import type { ModelOptions } from "./options.ts";
import { buildModel } from "./registry.ts";

/** Tiny configurations of the three model kinds, for tests (8x8x3 input, 4 classes). */
export const TINY_MODELS: Record<
  "resnet" | "rednet" | "vit",
  { name: string; options: ModelOptions }
> = {
  resnet: {
    name: "resnet8",
    options: {
      inputShape: [8, 8, 3],
      numClasses: 4,
      widths: [4, 8, 8],
      seed: 1,
    },
  },
  rednet: {
    name: "rednet8",
    options: {
      inputShape: [8, 8, 3],
      numClasses: 4,
      widths: [4, 8, 8],
      groupChannels: 4,
      reductionRatio: 2,
      seed: 2,
    },
  },
  vit: {
    name: "vit-tiny",
    options: {
      inputShape: [8, 8, 3],
      numClasses: 4,
      dim: 16,
      depth: 2,
      numHeads: 2,
      mlpDim: 32,
      patchSize: 4,
      numDistillationTokens: 2,
      seed: 3,
    },
  },
};

/** Builds one of {@linkcode TINY_MODELS}. */
export function buildTinyModel(kind: keyof typeof TINY_MODELS): tf.LayersModel {
  const { name, options } = TINY_MODELS[kind];
  return buildModel(name, options);
}

/** Mean softmax cross-entropy of every head against one-hot `labels`, summed over heads. */
export function crossEntropyOverHeads(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  labels: tf.Tensor2D,
  training: boolean,
): tf.Scalar {
  const out = model.apply(x, { training }) as tf.Tensor | tf.Tensor[];
  const heads = Array.isArray(out) ? out : [out];
  return heads
    .map((logits) => tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar)
    .reduce((a, b) => tf.add(a, b));
}
