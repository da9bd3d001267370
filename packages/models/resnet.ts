import { ModelError } from "./errors.ts";
import * as tf from "@tensorflow/tfjs";
import { AddRelu } from "./add_relu.ts";
import { BatchNorm } from "./batch_norm.ts";
import { Involution } from "./involution.ts";
import { PlainConv2D } from "./plain_conv2d.ts";
import {
  checkCommonOptions,
  checkInteger,
  type ResNetOptions,
} from "./options.ts";
import { SeedStream } from "./seeds.ts";
import type { LayersModel } from "./tf_types.ts";

/** Which spatial operator the residual blocks use. */
export type SpatialOperator = "convolution" | "involution";

function seedOf(seeds: SeedStream | undefined): number | undefined {
  return seeds?.next();
}

/**
 * Builds a CIFAR-style ResNet (basic blocks, 3x3 convolutions, batch norm,
 * three stages, global average pooling, linear head) or, with
 * `operator: "involution"`, its RedNet-style twin whose residual-block 3x3
 * convolutions are each an involution followed by a 1x1 convolution
 * (involution shares one spatial kernel per group and keeps the channel
 * count; the 1x1 convolution mixes channels and changes the width).
 * One output: logits `[N, numClasses]`.
 */
export function buildResNet(
  name: string,
  operator: SpatialOperator,
  options: ResNetOptions,
): LayersModel {
  checkCommonOptions(name, options);
  const widths = options.widths ?? [16, 32, 64];
  if (!Array.isArray(widths) || widths.length < 1) {
    throw new ModelError(
      `${name}: widths must be a non-empty array, got ${
        JSON.stringify(widths)
      }`,
      { code: "bad-options" },
    );
  }
  widths.forEach((w, i) => checkInteger(name, `widths[${i}]`, w, 1));
  const blocks = checkInteger(
    name,
    "blocksPerStage",
    options.blocksPerStage ?? 1,
    1,
  );
  const kernelSize = options.involutionKernelSize ?? 3;
  const groupChannels = options.groupChannels ?? 16;
  const reductionRatio = options.reductionRatio ?? 4;
  if (operator === "involution") {
    widths.forEach((w, i) => {
      if (w % groupChannels !== 0) {
        throw new ModelError(
          `${name}: widths[${i}] = ${w} is not divisible by groupChannels ${groupChannels}`,
          { code: "bad-options" },
        );
      }
    });
  }
  const seeds = options.seed === undefined
    ? undefined
    : new SeedStream(options.seed);
  const convInit = () => tf.initializers.heNormal({ seed: seedOf(seeds) });
  let layerIndex = 0;
  const uniqueName = (base: string) => `${base}_${++layerIndex}`;

  const conv = (
    x: tf.SymbolicTensor,
    filters: number,
    kernel: number,
    strides: number,
  ) =>
    tf.layers.conv2d({
      filters,
      kernelSize: kernel,
      strides,
      padding: "same",
      useBias: false,
      kernelInitializer: convInit(),
      name: uniqueName(`conv${kernel}x${kernel}`),
    }).apply(x) as tf.SymbolicTensor;
  const involution = (x: tf.SymbolicTensor, strides: number) =>
    new Involution({
      kernelSize,
      strides,
      groupChannels,
      reductionRatio,
      seed: seedOf(seeds),
      name: uniqueName("involution"),
    }).apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor) =>
    new BatchNorm({ name: uniqueName("bn") }).apply(
      x,
    ) as tf.SymbolicTensor;
  // Batch norm + ReLU as one layer: one kernel each way on wasm.
  const bnRelu = (x: tf.SymbolicTensor) =>
    new BatchNorm({ name: uniqueName("bn"), activation: "relu" }).apply(
      x,
    ) as tf.SymbolicTensor;

  const input = tf.input({ shape: options.inputShape!, name: "input" });
  // The stem's input is the image, which needs no gradient: a convolution
  // whose gradients are lazy (tfjs's fused one computes the input's anyway).
  const stem = new PlainConv2D({
    filters: widths[0],
    kernelSize: 3,
    kernelInitializer: convInit(),
    name: uniqueName("conv3x3"),
  }).apply(input) as tf.SymbolicTensor;
  let x = bnRelu(stem);
  let channels = widths[0];
  widths.forEach((width, stage) => {
    for (let b = 0; b < blocks; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      let main: tf.SymbolicTensor;
      if (operator === "convolution") {
        main = bnRelu(conv(x, width, 3, strides));
        main = bn(conv(main, width, 3, 1));
      } else {
        // involution mixes space only: a 1x1 convolution after each one does
        // the channel mixing the replaced 3x3 convolution did
        main = bnRelu(conv(involution(x, strides), width, 1, 1));
        main = bn(conv(involution(main, 1), width, 1, 1));
      }
      const shortcut = strides !== 1 || channels !== width
        ? bn(conv(x, width, 1, strides))
        : x;
      x = new AddRelu({ name: uniqueName("add") }).apply([
        main,
        shortcut,
      ]) as tf.SymbolicTensor;
      // the index the separate relu layer took: later layers keep their
      // names, and saved weights load by name
      layerIndex++;
      channels = width;
    }
  });
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(
    x,
  ) as tf.SymbolicTensor;
  const logits = tf.layers.dense({
    units: options.numClasses!,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seedOf(seeds) }),
    name: "logits",
  }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name });
}
