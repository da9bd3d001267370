import * as tf from "@tensorflow/tfjs";
import { type ConfigDict, Layer, type Shape, type Tensor } from "./tf_types.ts";
import {
  type Initializer,
  type LayerArgs,
  shapeOf,
  single,
} from "./_layer_util.ts";

/** Options of {@linkcode PatchEmbedding}. */
export interface PatchEmbeddingArgs {
  /** Output width D. */
  filters: number;
  /** Patch side P; the image sides must divide by it. */
  patchSize: number;
  /** Initializer of the `[P, P, C, D]` kernel. */
  kernelInitializer?: Initializer;
  /** Layer name. */
  name?: string;
}

/**
 * The ViT patch embedding: what a `P x P`, stride-`P` valid convolution with
 * bias computes (same `[P, P, C, D]` kernel and `[D]` bias), as one matmul of
 * the image's patches `[N*H/P*W/P, P*P*C]`. Unlike `tf.layers.conv2d` (a
 * fused op whose gradient always computes the input gradient too), training
 * runs no gradient for the image.
 * Output `[N, H/P, W/P, D]`.
 */
export class PatchEmbedding extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdPatchEmbedding";
  /** Output width D. */
  readonly filters: number;
  /** Patch side P. */
  readonly patchSize: number;
  #kernelInitializer: Initializer;
  #kernel?: tf.LayerVariable;
  #bias?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: PatchEmbeddingArgs) {
    super({ name: args.name } as LayerArgs);
    for (const key of ["filters", "patchSize"] as const) {
      if (!Number.isInteger(args[key]) || args[key] < 1) {
        throw new Error(
          `PatchEmbedding ${key} must be an integer >= 1, got ${args[key]}`,
        );
      }
    }
    this.filters = args.filters;
    this.patchSize = args.patchSize;
    this.#kernelInitializer = args.kernelInitializer ??
      tf.initializers.glorotUniform({});
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const [, height, width, channels] = shapeOf(inputShape);
    const p = this.patchSize;
    if (
      height == null || width == null || channels == null ||
      height % p !== 0 || width % p !== 0
    ) {
      throw new Error(
        `PatchEmbedding: input [${
          shapeOf(inputShape).slice(1)
        }] needs known sides divisible by patchSize ${p}`,
      );
    }
    this.#kernel = this.addWeight(
      "kernel",
      [p, p, channels, this.filters],
      "float32",
      this.#kernelInitializer,
    );
    this.#bias = this.addWeight(
      "bias",
      [this.filters],
      "float32",
      tf.initializers.zeros(),
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, height, width] = shapeOf(inputShape);
    const p = this.patchSize;
    return [
      n,
      height == null ? null : height / p,
      width == null ? null : width / p,
      this.filters,
    ];
  }

  /** Applies the layer. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const [n, height, width, channels] = x.shape;
      const p = this.patchSize;
      const rows = height / p;
      const cols = width / p;
      // [N, rows, P, cols, P, C] -> [N, rows, cols, P, P, C]: each patch's
      // values in the kernel's (ky, kx, c) order.
      const patches = tf.reshape(
        tf.transpose(tf.reshape(x, [n * rows, p, cols, p * channels]), [
          0,
          2,
          1,
          3,
        ]),
        [n * rows * cols, p * p * channels],
      ) as tf.Tensor2D;
      const out = tf.fused.matMul({
        a: patches,
        b: tf.reshape(this.#kernel!.read(), [p * p * channels, this.filters]),
        bias: this.#bias!.read(),
      });
      return tf.reshape(out, [n, rows, cols, this.filters]);
    });
  }

  /** Multiply-adds x2 per image for an input `[H, W, C]`. */
  flopsPerImage(inputShape: number[]): number {
    const [height, width, channels] = inputShape;
    return 2 * height * width * channels * this.filters;
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      patchSize: this.patchSize,
    };
  }
}
tf.serialization.registerClass(PatchEmbedding);
