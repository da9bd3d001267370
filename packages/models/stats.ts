import type * as tf from "@tensorflow/tfjs";
import type { Layer, LayersModel } from "./tf_types.ts";

/** Size and cost of a model. */
export interface ModelStats {
  /** All parameters (weights), trainable or not. */
  parameters: number;
  /** Trainable parameters only. */
  trainableParameters: number;
  /** Forward FLOPs per image: multiply-adds x2 of convolutions, dense layers, attention and involution. */
  flopsPerImage: number;
}

interface FlopsAware {
  flopsPerImage(inputShape: number[]): number;
}

function perImage(shape: tf.Shape | tf.Shape[]): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as tf.Shape;
  return s.slice(1).map((d) => d ?? 0);
}

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

function inputShapeOf(layer: tf.layers.Layer): tf.Shape | tf.Shape[] {
  const input = layer.input;
  return Array.isArray(input) ? input.map((t) => t.shape) : input.shape;
}

/** FLOPs per image of one layer (0 for layers without multiply-adds worth counting). */
export function layerFlops(layer: Layer): number {
  const aware = layer as unknown as Partial<FlopsAware>;
  if (typeof aware.flopsPerImage === "function") {
    return aware.flopsPerImage(perImage(inputShapeOf(layer)));
  }
  const className = layer.getClassName();
  const config = layer.getConfig();
  if (className === "Conv2D") {
    const [kh, kw] = config.kernelSize as number[];
    const inChannels = perImage(inputShapeOf(layer))[2];
    const out = perImage(layer.outputShape);
    return 2 * product(out) * kh * kw * inChannels;
  }
  if (className === "Dense") {
    const input = perImage(inputShapeOf(layer));
    const out = perImage(layer.outputShape);
    return 2 * product(out) * input[input.length - 1];
  }
  return 0;
}

/** Parameters and forward FLOPs per image of a built model. */
export function modelStats(model: LayersModel): ModelStats {
  let flops = 0;
  for (const layer of model.layers) flops += layerFlops(layer);
  const trainable = model.trainableWeights.reduce(
    (sum, w) => sum + product(w.shape as number[]),
    0,
  );
  return {
    parameters: model.countParams(),
    trainableParameters: trainable,
    flopsPerImage: flops,
  };
}
