/**
 * Models of vitkd: the involution layer, the ResNet / RedNet teachers, the
 * ViT student with one distillation token per teacher, a registry that builds
 * any of them by name, parameter and FLOP counts, and a model folder format
 * (`model.json` + `weights.bin` + `meta.json`).
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
export * from "./add_relu.ts";
export * from "./batch_norm.ts";
export * from "./involution.ts";
export * from "./layer_norm.ts";
export * from "./vit_layers.ts";
export * from "./options.ts";
export * from "./resnet.ts";
export * from "./vit.ts";
export * from "./stem_tokens.ts";
export * from "./registry.ts";
export * from "./stats.ts";
export * from "./predict.ts";
export * from "./persistence.ts";
export { SeedStream } from "./seeds.ts";
export * from "./tf_types.ts";
