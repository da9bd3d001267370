import * as tf from "@tensorflow/tfjs";
import {
  type Initializer,
  type LayerArgs,
  shapeOf,
  single,
} from "./_layer_util.ts";
import {
  type ConfigDict,
  Layer,
  type LayerVariable,
  type Shape,
  type Tensor,
  type Tensor4D,
} from "./tf_types.ts";

/** Options of {@linkcode PlainConv2D}. */
export interface PlainConv2DArgs {
  /** Output channels. */
  filters: number;
  /** Side of the square kernel. */
  kernelSize: number;
  /** Stride (both axes); default 1. */
  strides?: number;
  /** "same" (default) or "valid". */
  padding?: "same" | "valid";
  /** Initializer of the kernel; default He normal. */
  kernelInitializer?: Initializer;
  /** Layer name. */
  name?: string;
}

/**
 * A 2D convolution without bias or activation (the weight is `kernel`, as
 * `tf.layers.conv2d`'s) whose gradients are computed only for what needs
 * them. `tf.layers.conv2d` runs tfjs's fused convolution, whose gradient
 * computes the input's gradient at every backward pass, even for the
 * model's image input, which needs none: ResNet-8's stem spent 0.9 ms of a
 * training step (about 2 %) on it on wasm, and a dispatch chain on WebGPU.
 * `foldBatchNorm` folds it like a `Conv2D`.
 */
export class PlainConv2D extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdPlainConv2D";
  /** Output channels. */
  readonly filters: number;
  /** Side of the square kernel. */
  readonly kernelSize: number;
  /** Stride (both axes). */
  readonly strides: number;
  /** "same" or "valid". */
  readonly padding: "same" | "valid";
  readonly #initializer: Initializer;
  #kernel?: LayerVariable;

  /** Creates the layer; the kernel is made when it is first applied. */
  constructor(args: PlainConv2DArgs) {
    super({ name: args.name } as LayerArgs);
    const { filters, kernelSize, strides = 1, padding = "same" } = args;
    for (
      const [name, value] of Object.entries({ filters, kernelSize, strides })
    ) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(
          `PlainConv2D: ${name} must be an integer >= 1, got ${value}`,
        );
      }
    }
    if (padding !== "same" && padding !== "valid") {
      throw new Error(
        `PlainConv2D: padding must be "same" or "valid", got ${padding}`,
      );
    }
    this.filters = filters;
    this.kernelSize = kernelSize;
    this.strides = strides;
    this.padding = padding;
    this.#initializer = args.kernelInitializer ?? tf.initializers.heNormal({});
  }

  /** Makes the kernel `[k, k, inputChannels, filters]`. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = shapeOf(inputShape);
    const channels = shape[shape.length - 1];
    if (shape.length !== 4 || channels == null) {
      throw new Error(
        `PlainConv2D: expects [batch, height, width, channels] with known channels, got [${shape}]`,
      );
    }
    this.#kernel = this.addWeight(
      "kernel",
      [this.kernelSize, this.kernelSize, channels, this.filters],
      "float32",
      this.#initializer,
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, h, w] = shapeOf(inputShape);
    const out = (n: number | null) =>
      n == null
        ? null
        : this.padding === "same"
        ? Math.ceil(n / this.strides)
        : Math.floor((n - this.kernelSize) / this.strides) + 1;
    return [batch, out(h), out(w), this.filters];
  }

  /** Multiply-adds x 2 per image for an input `[h, w, c]` (model stats). */
  flopsPerImage(inputShape: number[]): number {
    const [, h, w] = this.computeOutputShape([null, ...inputShape]);
    return 2 * (h ?? 0) * (w ?? 0) * this.filters * this.kernelSize *
      this.kernelSize * inputShape[2];
  }

  /** The convolution: tfjs's unfused kernel, whose gradients are lazy. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.conv2d(
      single(inputs) as Tensor4D,
      this.#kernel!.read() as Tensor4D,
      this.strides,
      this.padding,
    );
  }

  /**
   * The constructor arguments, for serialisation, in `Conv2D`'s terms (so
   * that `foldBatchNorm` can turn it into one).
   */
  override getConfig(): ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
    };
  }
}
tf.serialization.registerClass(PlainConv2D);
