import * as tf from "@tensorflow/tfjs";
import {
  fusedGelu,
  fusedKernelsActive,
  fusedSoftmax,
  headsToTokens,
  sliceTokens,
  tokensToHeads,
} from "@vitkd/backend";
import { type ConfigDict, Layer, type Shape, type Tensor } from "./tf_types.ts";
import { type LayerArgs, shapeOf, single } from "./_layer_util.ts";

export { PatchEmbedding, type PatchEmbeddingArgs } from "./patch_embedding.ts";

/** Options of {@linkcode TokenEmbedding}. */
export interface TokenEmbeddingArgs {
  /** Distillation tokens T after the class token (0 gives a plain ViT). */
  numDistillationTokens?: number;
  /** Initializer seed. */
  seed?: number;
  /** Layer name. */
  name?: string;
}

/**
 * Prepends a learned class token and T learned distillation tokens to the
 * patch tokens `[N, L, D]` and adds learned position embeddings:
 * output `[N, 1 + T + L, D]`.
 */
export class TokenEmbedding extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "TokenEmbedding";
  /** Number of distillation tokens. */
  readonly numDistillationTokens: number;
  /** Initializer seed, if any. */
  readonly seed?: number;
  #classToken?: tf.LayerVariable;
  #distillationTokens?: tf.LayerVariable;
  #positions?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: TokenEmbeddingArgs = {}) {
    super({ name: args.name } as LayerArgs);
    const t = args.numDistillationTokens ?? 0;
    if (!Number.isInteger(t) || t < 0) {
      throw new Error(
        `numDistillationTokens must be an integer >= 0, got ${t}`,
      );
    }
    this.numDistillationTokens = t;
    this.seed = args.seed;
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const [, length, dim] = shapeOf(inputShape);
    if (length == null || dim == null) {
      throw new Error("TokenEmbedding needs known token count and width");
    }
    const seed = this.seed;
    const init = (i: number) =>
      tf.initializers.truncatedNormal({
        stddev: 0.02,
        seed: seed === undefined ? undefined : (seed * 5 + i) >>> 0,
      });
    this.#classToken = this.addWeight(
      "class_token",
      [1, 1, dim],
      "float32",
      init(1),
    );
    if (this.numDistillationTokens > 0) {
      this.#distillationTokens = this.addWeight(
        "distillation_tokens",
        [1, this.numDistillationTokens, dim],
        "float32",
        init(2),
      );
    }
    this.#positions = this.addWeight(
      "position_embedding",
      [1, 1 + this.numDistillationTokens + length, dim],
      "float32",
      init(3),
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, length, dim] = shapeOf(inputShape);
    return [
      n,
      length == null ? null : length + 1 + this.numDistillationTokens,
      dim,
    ];
  }

  /** Applies the layer; `kwargs.training` selects training behaviour. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor3D;
      const n = x.shape[0];
      // ones x token rather than broadcastTo: broadcastTo runs Tile, whose
      // gradient is one slice per sample. fill, not ones: ones is made on the
      // host and uploaded at every call on a GPU.
      const ones = tf.fill([n, 1, 1], 1);
      const parts = [tf.mul(ones, this.#classToken!.read())];
      if (this.#distillationTokens) {
        parts.push(tf.mul(ones, this.#distillationTokens.read()));
      }
      parts.push(x);
      const joined = fusedKernelsActive()
        ? concatTokens(parts as tf.Tensor3D[])
        : tf.concat(parts, 1);
      return tf.add(joined, this.#positions!.read());
    });
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    const config: tf.serialization.ConfigDict = {
      numDistillationTokens: this.numDistillationTokens,
    };
    if (this.seed !== undefined) config.seed = this.seed;
    return { ...super.getConfig(), ...config };
  }
}
tf.serialization.registerClass(TokenEmbedding);

// Concat along the token axis whose gradient is one token-slice kernel per
// part; stock Concat's gradient (SplitV) is a slow strided copy on wasm.
function concatTokens(parts: tf.Tensor3D[]): tf.Tensor3D {
  const lengths = parts.map((p) => p.shape[1]);
  const join = tf.customGrad((...args: unknown[]) => {
    const inputs = args.slice(0, parts.length) as tf.Tensor3D[];
    return {
      value: tf.concat(inputs, 1),
      gradFunc: (dy: tf.Tensor) => {
        let begin = 0;
        return lengths.map((size) => {
          const part = sliceTokens(dy as tf.Tensor3D, begin, size);
          begin += size;
          return part;
        });
      },
    };
  });
  return (join as unknown as (...t: tf.Tensor[]) => tf.Tensor3D)(...parts);
}

/** Options of {@linkcode MultiHeadSelfAttention}. */
export interface MultiHeadSelfAttentionArgs {
  /** Number of heads; the width must divide by it. */
  numHeads: number;
  /** Initializer seed. */
  seed?: number;
  /** Layer name. */
  name?: string;
}

/**
 * Multi-head self-attention over tokens `[N, L, D]`: a fused QKV projection,
 * scaled dot-product attention per head and an output projection.
 */
export class MultiHeadSelfAttention extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "MultiHeadSelfAttention";
  /** Number of heads. */
  readonly numHeads: number;
  /** Initializer seed, if any. */
  readonly seed?: number;
  #qkvKernel?: tf.LayerVariable;
  #qkvBias?: tf.LayerVariable;
  #projKernel?: tf.LayerVariable;
  #projBias?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: MultiHeadSelfAttentionArgs) {
    super({ name: args.name } as LayerArgs);
    if (!Number.isInteger(args.numHeads) || args.numHeads < 1) {
      throw new Error(`numHeads must be an integer >= 1, got ${args.numHeads}`);
    }
    this.numHeads = args.numHeads;
    this.seed = args.seed;
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const dim = shapeOf(inputShape)[2];
    if (dim == null || dim % this.numHeads !== 0) {
      throw new Error(
        `MultiHeadSelfAttention: width ${dim} is not divisible by numHeads ${this.numHeads}`,
      );
    }
    const seed = this.seed;
    const init = (i: number) =>
      tf.initializers.truncatedNormal({
        stddev: 0.02,
        seed: seed === undefined ? undefined : (seed * 3 + i) >>> 0,
      });
    this.#qkvKernel = this.addWeight(
      "qkv_kernel",
      [dim, 3 * dim],
      "float32",
      init(1),
    );
    this.#qkvBias = this.addWeight(
      "qkv_bias",
      [3 * dim],
      "float32",
      tf.initializers.zeros(),
    );
    this.#projKernel = this.addWeight(
      "proj_kernel",
      [dim, dim],
      "float32",
      init(2),
    );
    this.#projBias = this.addWeight(
      "proj_bias",
      [dim],
      "float32",
      tf.initializers.zeros(),
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeOf(inputShape);
  }

  /** Applies the layer; `kwargs.training` selects training behaviour. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor3D;
      const [n, length, dim] = x.shape;
      const heads = this.numHeads;
      const headDim = dim / heads;
      const qkv = tf.fused.matMul({
        a: tf.reshape(x, [n * length, dim]),
        b: this.#qkvKernel!.read() as tf.Tensor2D,
        bias: this.#qkvBias!.read(),
      });
      const scale = 1 / Math.sqrt(headDim);
      if (fusedKernelsActive()) {
        // One heap pass each for the head split and merge (and back): the
        // stock path's strided slices and rank-4 transposes dominate a step.
        const [q, k, v] = tokensToHeads(
          tf.reshape(qkv, [n, length, 3 * dim]),
          heads,
          3,
          scale,
        );
        const attention = fusedSoftmax(tf.matMul(q, k, false, true));
        const merged = headsToTokens([tf.matMul(attention, v)], heads);
        return tf.reshape(
          tf.fused.matMul({
            a: tf.reshape(merged, [n * length, dim]),
            b: this.#projKernel!.read() as tf.Tensor2D,
            bias: this.#projBias!.read(),
          }),
          [n, length, dim],
        );
      }
      const split = (part: number) =>
        tf.reshape(
          tf.transpose(
            tf.reshape(tf.slice(qkv, [0, part * dim], [n * length, dim]), [
              n,
              length,
              heads,
              headDim,
            ]),
            [0, 2, 1, 3],
          ),
          [n * heads, length, headDim],
        ) as tf.Tensor3D;
      const q = tf.mul(split(0), scale) as tf.Tensor3D;
      const attention = tf.softmax(tf.matMul(q, split(1), false, true));
      const mixed = tf.matMul(attention, split(2));
      const merged = tf.reshape(
        tf.transpose(tf.reshape(mixed, [n, heads, length, headDim]), [
          0,
          2,
          1,
          3,
        ]),
        [n * length, dim],
      );
      const out = tf.fused.matMul({
        a: merged as tf.Tensor2D,
        b: this.#projKernel!.read() as tf.Tensor2D,
        bias: this.#projBias!.read(),
      });
      return tf.reshape(out, [n, length, dim]);
    });
  }

  /** Multiply-adds x2 per image for tokens `[L, D]`. */
  flopsPerImage(inputShape: number[]): number {
    const [length, dim] = inputShape;
    return 2 * length * dim * 3 * dim + 2 * 2 * length * length * dim +
      2 * length * dim * dim;
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    const config: tf.serialization.ConfigDict = { numHeads: this.numHeads };
    if (this.seed !== undefined) config.seed = this.seed;
    return { ...super.getConfig(), ...config };
  }
}
tf.serialization.registerClass(MultiHeadSelfAttention);

/** Options of {@linkcode DropPath}. */
export interface DropPathArgs {
  /** Probability of dropping a sample's residual branch during training. */
  rate: number;
  /** Layer name. */
  name?: string;
}

/**
 * Stochastic depth: during training, zeroes the whole input of a sample with
 * probability `rate` and scales the kept ones by `1 / (1 - rate)`; identity at
 * inference.
 */
export class DropPath extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "DropPath";
  /** Drop probability. */
  readonly rate: number;

  /** Creates the layer. */
  constructor(args: DropPathArgs) {
    super({ name: args.name } as LayerArgs);
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new Error(`DropPath rate must be in [0, 1), got ${args.rate}`);
    }
    this.rate = args.rate;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeOf(inputShape);
  }

  /** Applies the layer; `kwargs.training` selects training behaviour. */
  override call(
    inputs: Tensor | Tensor[],
    kwargs: Record<string, unknown>,
  ): Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      if (kwargs["training"] !== true || this.rate === 0) return tf.clone(x);
      const keep = 1 - this.rate;
      const maskShape = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
      const mask = tf.floor(tf.add(tf.randomUniform(maskShape), keep));
      return tf.mul(x, tf.div(mask, keep));
    });
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(DropPath);

/** Options of {@linkcode SelectToken}. */
export interface SelectTokenArgs {
  /** Index of the token to keep. */
  index: number;
  /** Layer name. */
  name?: string;
}

/** Picks one token: `[N, L, D]` -> `[N, D]`. */
export class SelectToken extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "SelectToken";
  /** Index of the token kept. */
  readonly index: number;

  /** Creates the layer. */
  constructor(args: SelectTokenArgs) {
    super({ name: args.name } as LayerArgs);
    if (!Number.isInteger(args.index) || args.index < 0) {
      throw new Error(
        `SelectToken index must be an integer >= 0, got ${args.index}`,
      );
    }
    this.index = args.index;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, , dim] = shapeOf(inputShape);
    return [n, dim];
  }

  /** Applies the layer; `kwargs.training` selects training behaviour. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor3D;
      const [n, length, dim] = x.shape;
      if (this.index >= length) {
        throw new Error(
          `SelectToken: index ${this.index} is out of range for ${length} tokens`,
        );
      }
      const token = fusedKernelsActive()
        ? sliceTokens(x, this.index, 1)
        : tf.slice(x, [0, this.index, 0], [n, 1, dim]);
      return tf.reshape(token, [n, dim]);
    });
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return { ...super.getConfig(), index: this.index };
  }
}
tf.serialization.registerClass(SelectToken);

/** Options of {@linkcode Gelu}. */
export interface GeluArgs {
  /** Layer name. */
  name?: string;
}

/**
 * Exact GELU, `x * 0.5 * (1 + erf(x / sqrt 2))`, as the `tf.layers`
 * activation "gelu"; on wasm one fused kernel each way instead of the erf
 * chain and its composed gradient.
 */
export class Gelu extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdGelu";

  /** Creates the layer. */
  constructor(args: GeluArgs = {}) {
    super({ name: args.name } as LayerArgs);
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeOf(inputShape);
  }

  /** Applies GELU elementwise; `kwargs.training` keeps the slope for the gradient. */
  override call(
    inputs: Tensor | Tensor[],
    kwargs: Record<string, unknown> = {},
  ): Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      if (fusedKernelsActive() && x.dtype === "float32") {
        return fusedGelu(x, { training: kwargs["training"] === true });
      }
      return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    });
  }
}
tf.serialization.registerClass(Gelu);
