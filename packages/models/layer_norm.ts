import * as tf from "@tensorflow/tfjs";
import { fusedKernelsActive, fusedLayerNorm } from "@vitkd/backend";
import { type ConfigDict, Layer, type Shape, type Tensor } from "./tf_types.ts";

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/**
 * Layer normalisation over the last axis with a hand-written gradient. It
 * computes what `tf.layers.layerNormalization` does; that layer tiles gamma
 * and beta to the input's shape, and the gradient of Tile is one slice and
 * one add per token, tens of thousands of tiny kernels per ViT step. On wasm
 * (after `initBackend`) it runs as one fused kernel each way
 * (`fusedLayerNorm` of `@vitkd/backend`).
 */
export function layerNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
): Tensor {
  const last = x.rank - 1;
  const width = x.shape[last];
  const leading = x.shape.slice(0, -1).map((_, i) => i);
  const normalize = tf.customGrad(
    ((...args: unknown[]) => {
      const [input, g, b] = args as tf.Tensor[];
      const save = args[3] as (tensors: tf.Tensor[]) => void;
      const { mean, variance } = tf.moments(input, last, true);
      const inverse = tf.rsqrt(tf.add(variance, epsilon));
      const normalized = tf.mul(tf.sub(input, mean), inverse);
      save([normalized, inverse, g]);
      return {
        value: tf.add(tf.mul(normalized, g), b),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xhat, inv, scale] = saved;
          const dyScaled = tf.mul(dy, scale);
          const meanDy = tf.mean(dyScaled, last, true);
          const meanDyXhat = tf.mean(tf.mul(dyScaled, xhat), last, true);
          const dx = tf.mul(
            tf.sub(tf.sub(dyScaled, meanDy), tf.mul(xhat, meanDyXhat)),
            inv,
          );
          const dGamma = tf.sum(tf.mul(dy, xhat), leading);
          const dBeta = tf.sum(dy, leading);
          return [dx, dGamma, dBeta];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  if (gamma.size !== width || beta.size !== width) {
    throw new Error(
      `layerNorm: gamma and beta need ${width} values, got ${gamma.size} and ${beta.size}`,
    );
  }
  // On wasm, one heap loop per direction replaces ~15 small kernels.
  if (fusedKernelsActive() && x.dtype === "float32") {
    return fusedLayerNorm(x, gamma, beta, epsilon);
  }
  return normalize(x, gamma, beta);
}

/** Options of {@linkcode LayerNorm}. */
export interface LayerNormArgs {
  /** Added to the variance. */
  epsilon?: number;
  /** Layer name. */
  name?: string;
}

/** Layer normalisation over the last axis with learned gamma and beta (see {@linkcode layerNorm}). */
export class LayerNorm extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdLayerNorm";
  /** Added to the variance. */
  readonly epsilon: number;
  #gamma?: tf.LayerVariable;
  #beta?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: LayerNormArgs = {}) {
    super({ name: args.name } as LayerArgs);
    this.epsilon = args.epsilon ?? 1e-6;
    if (!(this.epsilon > 0)) {
      throw new Error(`LayerNorm epsilon must be > 0, got ${args.epsilon}`);
    }
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const shape =
      (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const width = shape[shape.length - 1];
    if (width == null) {
      throw new Error("LayerNorm needs a known last dimension");
    }
    this.#gamma = this.addWeight(
      "gamma",
      [width],
      "float32",
      tf.initializers.ones(),
    );
    this.#beta = this.addWeight(
      "beta",
      [width],
      "float32",
      tf.initializers.zeros(),
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0])
      ? inputShape[0]
      : inputShape) as tf.Shape;
  }

  /** Normalises each position over the last axis. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() =>
      layerNorm(
        Array.isArray(inputs) ? inputs[0] : inputs,
        this.#gamma!.read(),
        this.#beta!.read(),
        this.epsilon,
      )
    );
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(LayerNorm);
