import * as tf from "@tensorflow/tfjs";
import { BatchNorm } from "./batch_norm.ts";
import { AddRelu } from "./add_relu.ts";
import { ConvAddRelu } from "./conv_add_relu.ts";
import { PlainConv2D } from "./plain_conv2d.ts";
import type { LayersModel } from "./tf_types.ts";

// A layer of a functional model in its saved (Keras, snake_case) form.
interface SavedLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  // [[producer name, node index, tensor index, kwargs], ...] per call
  inbound_nodes: [string, number, number, unknown][][];
}

interface SavedModel {
  class_name: string;
  config: {
    layers: SavedLayer[];
    output_layers: [string, number, number][];
  };
}

/** What {@linkcode foldBatchNorm} did. */
export interface FoldedModel {
  /** The inference model; the caller disposes it (the source model is untouched). */
  model: LayersModel;
  /** How many batch norms were folded into the convolution before them. */
  folded: number;
  /**
   * How many residual additions (with their ReLU) joined a folded
   * convolution that feeds them, as one {@linkcode ConvAddRelu} layer.
   */
  residuals: number;
}

// How many inputs of other layers each layer's output feeds, by name.
function consumerCounts(layers: SavedLayer[]): Map<string, number> {
  const consumers = new Map<string, number>();
  for (const layer of layers) {
    for (const node of layer.inbound_nodes) {
      for (const [producer] of node) {
        consumers.set(producer, (consumers.get(producer) ?? 0) + 1);
      }
    }
  }
  return consumers;
}

// The layers a batch norm folds into: tfjs's convolution and ours without
// a fused gradient (which becomes a Conv2D when folded).
const CONVOLUTIONS = ["Conv2D", PlainConv2D.className];

// A PlainConv2D's saved entry as a Conv2D's (square kernel and stride).
function asConv2D(layer: SavedLayer): void {
  if (layer.class_name !== PlainConv2D.className) return;
  const c = layer.config;
  const pair = (n: unknown) => Array.isArray(n) ? n : [n, n];
  layer.class_name = "Conv2D";
  layer.config = {
    ...c,
    kernel_size: pair(c.kernel_size),
    strides: pair(c.strides),
    dilation_rate: [1, 1],
    data_format: "channels_last",
    activation: "linear",
    use_bias: false,
  };
}

// A batch norm can fold into the convolution that feeds it when that
// convolution feeds nothing else and has no activation of its own.
function foldablePairs(layers: SavedLayer[]): Map<string, SavedLayer> {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const consumers = consumerCounts(layers);
  const pairs = new Map<string, SavedLayer>(); // batch norm name -> conv
  for (const layer of layers) {
    if (layer.class_name !== BatchNorm.className) continue;
    if (layer.inbound_nodes.length !== 1) continue;
    const node = layer.inbound_nodes[0];
    if (node.length !== 1) continue;
    const conv = byName.get(node[0][0]);
    if (
      conv !== undefined && CONVOLUTIONS.includes(conv.class_name) &&
      conv.inbound_nodes.length === 1 &&
      consumers.get(conv.name) === 1 &&
      (conv.config.activation ?? "linear") === "linear" &&
      (conv.config.data_format ?? "channels_last") === "channels_last"
    ) {
      pairs.set(layer.name, conv);
    }
  }
  return pairs;
}

/**
 * An inference copy of `model` in which every batch norm that follows a
 * convolution (and is that convolution's only consumer) is folded into it:
 * the kernel is scaled by `gamma / sqrt(movingVariance + epsilon)` per output
 * channel, the bias becomes `beta - movingMean * scale`, and a batch norm's
 * ReLU becomes the convolution's activation. Each folded pair then runs as
 * one `FusedConv2D` kernel instead of a convolution, a batch norm and a ReLU,
 * which is what inference-mode batch norm computes up to float rounding.
 * A folded convolution that then feeds only a residual block's
 * {@linkcode AddRelu} joins it as one {@linkcode ConvAddRelu}: on wasm with
 * oneDNN, the addition and the ReLU become the convolution's post-ops.
 * Training the copy would not be training the model: use it for predictions
 * only. A model without such pairs comes back as an equal copy.
 *
 * @param model A functional model (as `buildModel` and `loadModel` give).
 * @returns The copy and how many batch norms were folded.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "@vitkd/backend";
 * import { buildModel, foldBatchNorm } from "@vitkd/models";
 *
 * await initBackend({ backend: "cpu" });
 * const teacher = buildModel("resnet8", { seed: 1 });
 * const { model, folded } = await foldBatchNorm(teacher);
 * console.log(folded); // 9
 * const x = tf.randomNormal([2, 32, 32, 3]);
 * (model.predict(x) as tf.Tensor).print();
 * model.dispose();
 * ```
 */
export async function foldBatchNorm(model: LayersModel): Promise<FoldedModel> {
  const saved = structuredClone(
    model.toJSON(null, false),
  ) as unknown as SavedModel;
  const pairs = foldablePairs(saved.config.layers);
  const foldedInto = new Map<string, string>(); // conv name -> batch norm name
  for (const [bnName, conv] of pairs) {
    asConv2D(conv);
    foldedInto.set(conv.name, bnName);
    const bn = saved.config.layers.find((l) => l.name === bnName)!;
    conv.config.use_bias = true;
    conv.config.bias_initializer = { class_name: "Zeros", config: {} };
    conv.config.bias_regularizer = null;
    conv.config.bias_constraint = null;
    conv.config.activation = bn.config.activation === "relu"
      ? "relu"
      : "linear";
  }
  const renamed = new Map([...pairs].map(([bn, conv]) => [bn, conv.name]));
  const rename = (name: string) => renamed.get(name) ?? name;
  saved.config.layers = saved.config.layers.filter((l) => !pairs.has(l.name));
  const renameInputs = () => {
    for (const layer of saved.config.layers) {
      for (const node of layer.inbound_nodes) {
        for (const input of node) input[0] = rename(input[0]);
      }
    }
    for (const output of saved.config.output_layers) {
      output[0] = rename(output[0]);
    }
  };
  renameInputs();
  const residuals = joinResiduals(saved.config.layers, foldedInto, renamed);
  renameInputs();
  const inference = await tf.models.modelFromJSON({
    modelTopology: saved as unknown as tf.io.ModelJSON["modelTopology"],
  });
  try {
    for (const layer of inference.layers) {
      const source = model.getLayer(layer.name);
      const bnName = foldedInto.get(layer.name);
      if (bnName === undefined) {
        layer.setWeights(source.getWeights());
        continue;
      }
      const bn = model.getLayer(bnName) as BatchNorm;
      const folded = tf.tidy(() => {
        const [gamma, beta, mean, variance] = bn.getWeights();
        const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, bn.epsilon)));
        const kernel = tf.mul(source.getWeights()[0], scale);
        const bias = tf.sub(beta, tf.mul(mean, scale));
        return [kernel, bias];
      });
      layer.setWeights(folded);
      tf.dispose(folded);
    }
  } catch (error) {
    inference.dispose();
    throw error;
  }
  return { model: inference, folded: pairs.size, residuals };
}

// Each AddRelu with an input from a folded convolution that has no other
// consumer and no activation becomes one ConvAddRelu in the AddRelu's
// place, named as the convolution (whose kernel and bias it takes), with
// the convolution's input and the AddRelu's other input. Records each
// AddRelu's new name in `renamed`; returns how many were joined.
function joinResiduals(
  layers: SavedLayer[],
  folded: Map<string, string>,
  renamed: Map<string, string>,
): number {
  const consumers = consumerCounts(layers);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const joinedConvs = new Set<string>();
  const joined = layers.map((add): SavedLayer => {
    if (add.class_name !== AddRelu.className) return add;
    if (add.inbound_nodes.length !== 1) return add;
    const node = add.inbound_nodes[0];
    if (node.length !== 2) return add;
    const side = node.findIndex(([producer]) => {
      const conv = byName.get(producer);
      return conv !== undefined && folded.has(conv.name) &&
        conv.config.activation === "linear" &&
        consumers.get(conv.name) === 1;
    });
    if (side < 0) return add;
    const conv = byName.get(node[side][0])!;
    const c = conv.config;
    joinedConvs.add(conv.name);
    renamed.set(add.name, conv.name);
    return {
      class_name: ConvAddRelu.className,
      name: conv.name,
      config: {
        name: conv.name,
        trainable: c.trainable,
        filters: c.filters,
        kernel_size: c.kernel_size,
        strides: c.strides,
        padding: c.padding,
        dilation_rate: c.dilation_rate,
      },
      inbound_nodes: [[conv.inbound_nodes[0][0], node[1 - side]]],
    };
  });
  const kept = joined.filter((l) =>
    !(joinedConvs.has(l.name) && l.class_name !== ConvAddRelu.className)
  );
  layers.splice(0, layers.length, ...kept);
  return joinedConvs.size;
}
