import * as tf from "@tensorflow/tfjs";
import { Involution } from "./involution.ts";
import {
  Layer,
  type Shape,
  type SymbolicTensor,
  type Tensor,
} from "./tf_types.ts";

/**
 * Where the ViT's distillation tokens come from: `learned` embeddings, one
 * per teacher (DeiT), or `stems`, the pooled output of a small
 * convolutional or involution stem over the image (Co-advise / CiT: the
 * token of a teacher carries that teacher's inductive bias from the input
 * on).
 */
export type DistillationTokenSource = "learned" | "stems";

/** The stem kind of each of `count` stem tokens: conv, involution, conv, … */
export function stemKinds(count: number): ("conv" | "involution")[] {
  // teacher order in this project is CNN, then INN: token i matches teacher i
  return Array.from(
    { length: count },
    (_, i) => i % 2 === 0 ? "conv" : "involution",
  );
}

/** Options of {@linkcode stemTokens}. */
export interface StemTokenOptions {
  /** Number of tokens T. */
  count: number;
  /** Token width D. */
  dim: number;
  /** The ViT's patch size: each stem ends on the patch grid. */
  patchSize: number;
  /** Channels of each stem's full-resolution layer. */
  channels: number;
  /** Initializer seeds, drawn in order. */
  nextSeed: () => number | undefined;
}

/**
 * T tokens `[N, T, D]` from the image: token i is a 3x3 convolution (even
 * i) or a 1x1 convolution followed by a 3x3 involution (odd i), each with
 * ReLU, then a stride-P projection to D on the patch grid (aligned with the
 * patch tokens), averaged over the grid.
 */
export function stemTokens(
  input: SymbolicTensor,
  options: StemTokenOptions,
): SymbolicTensor {
  const { dim, patchSize, channels, nextSeed } = options;
  const init = () => tf.initializers.heNormal({ seed: nextSeed() });
  const tokens = stemKinds(options.count).map((kind, i) => {
    const name = (part: string) => `stem${i + 1}_${kind}_${part}`;
    let x: tf.SymbolicTensor;
    if (kind === "conv") {
      x = tf.layers.conv2d({
        filters: channels,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        kernelInitializer: init(),
        name: name("conv"),
      }).apply(input) as tf.SymbolicTensor;
    } else {
      x = tf.layers.conv2d({
        filters: channels,
        kernelSize: 1,
        activation: "relu",
        kernelInitializer: init(),
        name: name("expand"),
      }).apply(input) as tf.SymbolicTensor;
      x = new Involution({
        kernelSize: 3,
        groupChannels: Math.min(16, channels),
        seed: nextSeed(),
        name: name("involution"),
      }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: name("relu") }).apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers.conv2d({
      filters: dim,
      kernelSize: patchSize,
      strides: patchSize,
      kernelInitializer: tf.initializers.truncatedNormal({
        stddev: 0.02,
        seed: nextSeed(),
      }),
      name: name("projection"),
    }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: name("pool") }).apply(
      x,
    ) as tf.SymbolicTensor;
    return tf.layers.reshape({ targetShape: [1, dim], name: name("token") })
      .apply(x) as tf.SymbolicTensor;
  });
  return tokens.length === 1
    ? tokens[0]
    : tf.layers.concatenate({ axis: 1, name: "stem_tokens" }).apply(
      tokens,
    ) as tf.SymbolicTensor;
}

/** The tfjs `LayerArgs` type (not exported by name from tfjs). */
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/**
 * Inserts tokens after the class token: inputs `[N, 1 + L, D]` (class token
 * then patch tokens) and `[N, T, D]`, output `[N, 1 + T + L, D]`, so the
 * inserted tokens sit where learned distillation tokens would.
 */
export class InsertTokens extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdInsertTokens";

  /** Creates the layer. */
  constructor(args: { name?: string } = {}) {
    super({ name: args.name } as LayerArgs);
  }

  /** The output shape for the two input shapes. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [x, t] = inputShape as Shape[];
    const length = x[1] == null || t[1] == null ? null : x[1] + t[1];
    return [x[0], length, x[2]];
  }

  /** Applies the layer. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const [x, t] = inputs as tf.Tensor3D[];
      const [n, length, dim] = x.shape;
      const head = tf.slice(x, [0, 0, 0], [n, 1, dim]);
      const rest = tf.slice(x, [0, 1, 0], [n, length - 1, dim]);
      return tf.concat([head, t, rest], 1);
    });
  }
}
tf.serialization.registerClass(InsertTokens);
