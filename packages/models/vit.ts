import { ModelError } from "./errors.ts";
import * as tf from "@tensorflow/tfjs";
import {
  checkCommonOptions,
  checkInteger,
  checkRate,
  type VitOptions,
} from "./options.ts";
import { LayerNorm } from "./layer_norm.ts";
import { SeedStream } from "./seeds.ts";
import { InsertTokens, stemTokens } from "./stem_tokens.ts";
import {
  DropPath,
  Gelu,
  MultiHeadSelfAttention,
  PatchEmbedding,
  SelectToken,
  TokenEmbedding,
} from "./vit_layers.ts";
import type { LayersModel } from "./tf_types.ts";

/**
 * Builds the ViT student: patch embedding (a stride-P convolution, run as a
 * patch matmul), a class token, T distillation tokens, learned position
 * embeddings, pre-norm blocks
 * (multi-head self-attention, GELU MLP, dropout, stochastic depth), a final
 * LayerNorm and a linear head on the class token and on each distillation
 * token. Outputs: the class head first, then one per distillation token.
 *
 * With `distillationTokens: "stems"` the T distillation tokens are not
 * learned embeddings but the pooled outputs of small conv / involution stems
 * over the image (Co-advise), inserted after the class token.
 */
export function buildVit(name: string, options: VitOptions): LayersModel {
  checkCommonOptions(name, options);
  const [height, width, channels] = options.inputShape!;
  const patch = checkInteger(name, "patchSize", options.patchSize, 1);
  if (height % patch !== 0 || width % patch !== 0) {
    throw new ModelError(
      `${name}: input ${height}x${width} is not divisible by patchSize ${patch}`,
      { code: "bad-options" },
    );
  }
  const dim = checkInteger(name, "dim", options.dim, 1);
  const depth = checkInteger(name, "depth", options.depth, 1);
  const heads = checkInteger(name, "numHeads", options.numHeads, 1);
  if (dim % heads !== 0) {
    throw new ModelError(
      `${name}: dim ${dim} is not divisible by numHeads ${heads}`,
      { code: "bad-options" },
    );
  }
  const mlpDim = checkInteger(name, "mlpDim", options.mlpDim, 1);
  const tokens = checkInteger(
    name,
    "numDistillationTokens",
    options.numDistillationTokens ?? 0,
    0,
  );
  const dropout = checkRate(name, "dropout", options.dropout ?? 0);
  const dropPath = checkRate(name, "dropPath", options.dropPath ?? 0);
  const seeds = options.seed === undefined
    ? undefined
    : new SeedStream(options.seed);
  const nextSeed = () => seeds?.next();
  const denseInit = () =>
    tf.initializers.truncatedNormal({ stddev: 0.02, seed: nextSeed() });
  const dense = (
    x: tf.SymbolicTensor,
    units: number,
    layerName: string,
  ) =>
    tf.layers.dense({
      units,
      kernelInitializer: denseInit(),
      name: layerName,
    }).apply(x) as tf.SymbolicTensor;
  const layerNormLayer = (x: tf.SymbolicTensor, layerName: string) =>
    new LayerNorm({ epsilon: 1e-6, name: layerName }).apply(
      x,
    ) as tf.SymbolicTensor;
  const maybeDropout = (x: tf.SymbolicTensor, layerName: string) =>
    dropout > 0
      ? tf.layers.dropout({ rate: dropout, name: layerName }).apply(
        x,
      ) as tf.SymbolicTensor
      : x;

  const input = tf.input({ shape: [height, width, channels], name: "input" });
  const patches = new PatchEmbedding({
    filters: dim,
    patchSize: patch,
    kernelInitializer: denseInit(),
    name: "patch_embedding",
  }).apply(input) as tf.SymbolicTensor;
  const numPatches = (height / patch) * (width / patch);
  let x = tf.layers.reshape({
    targetShape: [numPatches, dim],
    name: "patch_tokens",
  })
    .apply(patches) as tf.SymbolicTensor;
  const source = options.distillationTokens ?? "learned";
  if (source !== "learned" && source !== "stems") {
    throw new ModelError(
      `${name}: distillationTokens must be "learned" or "stems", got ${
        JSON.stringify(source)
      }`,
      { code: "bad-options" },
    );
  }
  const fromStems = source === "stems" && tokens > 0;
  x = new TokenEmbedding({
    numDistillationTokens: fromStems ? 0 : tokens,
    seed: nextSeed(),
    name: "tokens",
  })
    .apply(x) as tf.SymbolicTensor;
  if (fromStems) {
    const stems = stemTokens(input, {
      count: tokens,
      dim,
      patchSize: patch,
      channels: checkInteger(
        name,
        "stemChannels",
        options.stemChannels ?? 16,
        1,
      ),
      nextSeed,
    });
    x = new InsertTokens({ name: "insert_stem_tokens" }).apply([
      x,
      stems,
    ]) as tf.SymbolicTensor;
  }
  x = maybeDropout(x, "embedding_dropout");
  for (let i = 0; i < depth; i++) {
    const rate = depth > 1 ? dropPath * i / (depth - 1) : dropPath;
    const residual = (branch: tf.SymbolicTensor, part: string) => {
      const dropped = rate > 0
        ? new DropPath({ rate, name: `block${i}_${part}_drop_path` }).apply(
          branch,
        ) as tf.SymbolicTensor
        : branch;
      return tf.layers.add({ name: `block${i}_${part}_add` }).apply([
        x,
        dropped,
      ]) as tf.SymbolicTensor;
    };
    let h = layerNormLayer(x, `block${i}_norm1`);
    h = new MultiHeadSelfAttention({
      numHeads: heads,
      seed: nextSeed(),
      name: `block${i}_attention`,
    })
      .apply(h) as tf.SymbolicTensor;
    x = residual(maybeDropout(h, `block${i}_attention_dropout`), "attention");
    h = layerNormLayer(x, `block${i}_norm2`);
    h = new Gelu({ name: `block${i}_mlp_gelu` }).apply(
      dense(h, mlpDim, `block${i}_mlp_fc1`),
    ) as tf.SymbolicTensor;
    h = maybeDropout(h, `block${i}_mlp_dropout1`);
    h = maybeDropout(
      dense(h, dim, `block${i}_mlp_fc2`),
      `block${i}_mlp_dropout2`,
    );
    x = residual(h, "mlp");
  }
  x = layerNormLayer(x, "final_norm");
  const outputs: tf.SymbolicTensor[] = [];
  for (let t = 0; t <= tokens; t++) {
    const headName = t === 0 ? "head_class" : `head_distillation${t}`;
    const token = new SelectToken({ index: t, name: `${headName}_token` })
      .apply(x) as tf.SymbolicTensor;
    outputs.push(dense(token, options.numClasses!, headName));
  }
  return tf.model({
    inputs: input,
    outputs: outputs.length === 1 ? outputs[0] : outputs,
    name,
  });
}
