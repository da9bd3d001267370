import * as tf from "@tensorflow/tfjs";
import { conv2dAddRelu } from "@vitkd/backend";
import type { LayerArgs } from "./_layer_util.ts";
import {
  type ConfigDict,
  Layer,
  type Shape,
  type Tensor,
  type Tensor4D,
} from "./tf_types.ts";

/** Options of {@linkcode ConvAddRelu}. */
export interface ConvAddReluArgs {
  /** Layer name. */
  name?: string;
  /** Output channels. */
  filters: number;
  /** Filter height and width. */
  kernelSize: [number, number];
  /** Strides along height and width. */
  strides: [number, number];
  /** tfjs' padding. */
  padding: "same" | "valid";
  /** Dilations along height and width. */
  dilationRate: [number, number];
}

/**
 * `relu(conv2d(x) + bias + residual)` of two inputs `[x, residual]`: a
 * convolution with a bias (a batch norm folded into it) that ends a
 * residual block, as one kernel where the backend has it (wasm with oneDNN;
 * `conv2dAddRelu`). {@linkcode foldBatchNorm} makes these for inference;
 * its weights are a `Conv2D`'s (kernel `[kh, kw, c, filters]`, bias).
 */
export class ConvAddRelu extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdConvAddRelu";
  /** Output channels. */
  readonly filters: number;
  /** Filter height and width. */
  readonly kernelSize: [number, number];
  /** Strides along height and width. */
  readonly strides: [number, number];
  /** tfjs' padding. */
  readonly padding: "same" | "valid";
  /** Dilations along height and width. */
  readonly dilationRate: [number, number];
  #kernel?: tf.LayerVariable;
  #bias?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: ConvAddReluArgs) {
    super({ name: args.name } as LayerArgs);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides;
    this.padding = args.padding;
    this.dilationRate = args.dilationRate;
  }

  /** Creates the kernel and bias for the input shapes `[x, residual]`. */
  override build(inputShape: Shape | Shape[]): void {
    const [x] = inputShape as Shape[];
    const channels = x?.[3];
    if (channels == null) {
      throw new Error(
        `ConvAddRelu: expects [x, residual] with a known channel count, got ${
          JSON.stringify(inputShape)
        }`,
      );
    }
    this.#kernel = this.addWeight(
      "kernel",
      [...this.kernelSize, channels, this.filters],
      "float32",
      tf.initializers.zeros(),
    );
    this.#bias = this.addWeight(
      "bias",
      [this.filters],
      "float32",
      tf.initializers.zeros(),
    );
    this.built = true;
  }

  /** The output shape: the residual's. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (inputShape as Shape[])[1];
  }

  /** `relu(conv2d(x) + bias + residual)`. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    const [x, residual] = inputs as Tensor4D[];
    return conv2dAddRelu(
      x,
      this.#kernel!.read() as Tensor4D,
      this.#bias!.read() as tf.Tensor1D,
      residual,
      {
        strides: this.strides,
        pad: this.padding,
        dilations: this.dilationRate,
      },
    );
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
    };
  }
}
tf.serialization.registerClass(ConvAddRelu);
