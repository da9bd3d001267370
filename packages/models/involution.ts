import * as tf from "@tensorflow/tfjs";
import { fusedInvolution, hasFusedInvolution } from "@vitkd/backend";
import { batchNormTraining } from "./batch_norm.ts";
import {
  type ConfigDict,
  Layer,
  type Shape,
  type Tensor,
  type Tensor4D,
} from "./tf_types.ts";

/**
 * How the involution aggregates the K·K neighbourhood: `fused` is one
 * backend kernel each way (wasm after `initBackend`), `slices` and `unfold`
 * are compositions of stock ops, `auto` is `fused` where the backend has it,
 * else `slices`. All compute the same function.
 */
export type InvolutionAggregation = "auto" | "fused" | "slices" | "unfold";

const AGGREGATIONS: readonly InvolutionAggregation[] = [
  "auto",
  "fused",
  "slices",
  "unfold",
];

/** Options of the {@linkcode Involution} layer. */
export interface InvolutionArgs {
  /** Side K of the square neighbourhood (odd). */
  kernelSize: number;
  /** Spatial stride; the kernel generator average-pools its input by it. */
  strides?: number;
  /** Channels sharing one generated kernel (the input channels must divide by it). */
  groupChannels?: number;
  /** Reduction ratio r of the kernel generator's bottleneck (C -> C/r). */
  reductionRatio?: number;
  /** Seed of the weight initializers (deterministic init). */
  seed?: number;
  /** Aggregation formulation: both compute the same function. */
  aggregation?: InvolutionAggregation;
  /** Momentum of the batch-norm moving statistics. */
  momentum?: number;
  /** Epsilon of the batch norm. */
  epsilon?: number;
  /** Layer name. */
  name?: string;
  /** Whether the weights train. */
  trainable?: boolean;
}

/** The tfjs `LayerArgs` type (not exported by name from tfjs). */
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/**
 * Involution (Li et al., CVPR 2021) as a tfjs layer.
 *
 * Kernel generation: 1x1 conv C -> C/r, batch norm, ReLU, 1x1 conv
 * C/r -> K·K·G (G = C / groupChannels), on the input average-pooled by the
 * stride. Aggregation: `Y[i,j,c] = sum_{u,v} H[i,j,u,v,g(c)] · X[s·i+u-p,
 * s·j+v-p, c]` with zero padding `p = (K-1)/2`. Generated channel `(u·K+v)·G
 * + g` holds the kernel of offset (u,v) for group g.
 */
export class Involution extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "Involution";

  /** Side K of the neighbourhood. */
  readonly kernelSize: number;
  /** Spatial stride. */
  readonly strides: number;
  /** Channels per group. */
  readonly groupChannels: number;
  /** Bottleneck reduction ratio. */
  readonly reductionRatio: number;
  /** Initializer seed, if any. */
  readonly seed?: number;
  /** Aggregation formulation. */
  readonly aggregation: InvolutionAggregation;
  /** Batch-norm momentum. */
  readonly momentum: number;
  /** Batch-norm epsilon. */
  readonly epsilon: number;

  #channels = 0;
  #reduced = 0;
  #groups = 0;
  #reduceKernel?: tf.LayerVariable;
  #bnGamma?: tf.LayerVariable;
  #bnBeta?: tf.LayerVariable;
  #movingMean?: tf.LayerVariable;
  #movingVariance?: tf.LayerVariable;
  #spanKernel?: tf.LayerVariable;
  #spanBias?: tf.LayerVariable;

  /** Creates the layer; see {@linkcode InvolutionArgs}. */
  constructor(args: InvolutionArgs) {
    super({ name: args.name, trainable: args.trainable } as LayerArgs);
    const k = args.kernelSize;
    if (!Number.isInteger(k) || k < 1 || k % 2 === 0) {
      throw new Error(
        `Involution kernelSize must be an odd integer >= 1, got ${k}`,
      );
    }
    this.kernelSize = k;
    this.strides = args.strides ?? 1;
    if (!Number.isInteger(this.strides) || this.strides < 1) {
      throw new Error(
        `Involution strides must be an integer >= 1, got ${args.strides}`,
      );
    }
    this.groupChannels = args.groupChannels ?? 16;
    this.reductionRatio = args.reductionRatio ?? 4;
    if (!(this.groupChannels >= 1) || !(this.reductionRatio >= 1)) {
      throw new Error(
        `Involution groupChannels and reductionRatio must be >= 1, got ${this.groupChannels} and ${this.reductionRatio}`,
      );
    }
    this.seed = args.seed;
    this.aggregation = args.aggregation ?? "auto";
    if (!AGGREGATIONS.includes(this.aggregation)) {
      throw new Error(
        `Involution aggregation must be one of ${
          AGGREGATIONS.join(", ")
        }, got "${this.aggregation}"`,
      );
    }
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
  }

  /** Number of kernel groups G, known once built. */
  get groups(): number {
    return this.#groups;
  }

  /** Bottleneck width C/r, known once built. */
  get reducedChannels(): number {
    return this.#reduced;
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const shape =
      (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4) {
      throw new Error(
        `Involution expects NHWC input of rank 4, got shape [${
          shape.join(",")
        }]`,
      );
    }
    const c = shape[3];
    if (c == null) throw new Error("Involution needs a known channel count");
    if (c % this.groupChannels !== 0) {
      throw new Error(
        `Involution: input channels ${c} are not divisible by groupChannels ${this.groupChannels}`,
      );
    }
    this.#channels = c;
    this.#groups = c / this.groupChannels;
    this.#reduced = Math.max(1, Math.floor(c / this.reductionRatio));
    const kk = this.kernelSize * this.kernelSize;
    const seed = this.seed;
    const next = (i: number) =>
      seed === undefined ? undefined : (seed * 7 + i) >>> 0;
    this.#reduceKernel = this.addWeight(
      "reduce_kernel",
      [c, this.#reduced],
      "float32",
      tf.initializers.heNormal({ seed: next(1) }),
    );
    this.#bnGamma = this.addWeight(
      "bn_gamma",
      [this.#reduced],
      "float32",
      tf.initializers.ones(),
    );
    this.#bnBeta = this.addWeight(
      "bn_beta",
      [this.#reduced],
      "float32",
      tf.initializers.zeros(),
    );
    this.#movingMean = this.addWeight(
      "bn_moving_mean",
      [this.#reduced],
      "float32",
      tf.initializers.zeros(),
      undefined,
      false,
    );
    this.#movingVariance = this.addWeight(
      "bn_moving_variance",
      [this.#reduced],
      "float32",
      tf.initializers.ones(),
      undefined,
      false,
    );
    // The kernel starts as a static filter (the span bias, He-scaled over the
    // K·K window) plus a small generated part. Generated kernels that start at
    // full scale make the output a product of two heavy-tailed fields
    // (kurtosis in the hundreds on MNIST), so the batch norm after the layer
    // squashes almost every pixel and training barely moves.
    this.#spanKernel = this.addWeight(
      "span_kernel",
      [this.#reduced, kk * this.#groups],
      "float32",
      tf.initializers.varianceScaling({
        scale: 0.01,
        mode: "fanAvg",
        distribution: "uniform",
        seed: next(2),
      }),
    );
    this.#spanBias = this.addWeight(
      "span_bias",
      [kk * this.#groups],
      "float32",
      tf.initializers.randomNormal({
        mean: 0,
        stddev: Math.sqrt(2 / kk),
        seed: next(3),
      }),
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape =
      (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const out = (n: number | null) =>
      n == null ? null : Math.ceil(n / this.strides);
    return [shape[0], out(shape[1]), out(shape[2]), shape[3]];
  }

  /** Generated kernels `[N, Ho, Wo, K·K·G]` for input `x`. */
  generateKernels(x: Tensor4D, training: boolean): Tensor4D {
    return tf.tidy(() => {
      const pooled = this.strides > 1 ? this.#pool(x) : x;
      const [n, h, w, c] = pooled.shape;
      const flat = tf.reshape(pooled, [n * h * w, c]);
      const reduced = tf.matMul(flat, this.#reduceKernel!.read());
      const gamma = this.#bnGamma!.read();
      const beta = this.#bnBeta!.read();
      let activated: tf.Tensor;
      if (training) {
        activated = batchNormTraining(
          reduced,
          gamma,
          beta,
          this.epsilon,
          true,
          {
            variables: [this.#movingMean!, this.#movingVariance!],
            momentum: this.momentum,
          },
        ).y;
      } else {
        activated = tf.relu(tf.batchNorm(
          reduced,
          this.#movingMean!.read(),
          this.#movingVariance!.read(),
          beta,
          gamma,
          this.epsilon,
        ));
      }
      const span = onWebGpu()
        // the bias in the product's epilogue: one dispatch instead of two
        ? tf.fused.matMul({
          a: activated as tf.Tensor2D,
          b: this.#spanKernel!.read() as tf.Tensor2D,
          bias: this.#spanBias!.read(),
        })
        // elsewhere the separate add the models were trained with (wasm's
        // fused bias starts its sums from the bias: other rounding)
        : tf.add(
          tf.matMul(activated, this.#spanKernel!.read()),
          this.#spanBias!.read(),
        );
      return tf.reshape(span, [
        n,
        h,
        w,
        span.shape[1] as number,
      ]) as tf.Tensor4D;
    });
  }

  /**
   * Average pool by the stride: window i covers rows [s·i, s·i + s); a last
   * partial window averages its valid cells. Written as pad + reshape + sum
   * because tf.avgPool's "same" gradient mis-weights partial windows.
   */
  #pool(x: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    const s = this.strides;
    if (h % s === 0 && w % s === 0 && onWebGpu()) {
      // every window full: tf.avgPool's "valid" windows are these, one
      // dispatch each way on a GPU where the composition below takes five
      // forward and four backward (wasm keeps the composition it trained
      // with: its pooling sums in another order)
      return tf.avgPool(x, s, s, "valid");
    }
    const ho = Math.ceil(h / s), wo = Math.ceil(w / s);
    const padded = tf.pad(x, [[0, 0], [0, ho * s - h], [0, wo * s - w], [
      0,
      0,
    ]]);
    const rowSums = tf.sum(tf.reshape(padded, [n * ho, s, wo * s * c]), 1);
    const sums = tf.sum(tf.reshape(rowSums, [n * ho, wo, s, c]), 2);
    if (h % s === 0 && w % s === 0) {
      // every window is full: a scalar divisor, which a GPU backend keeps
      // as a constant instead of uploading a table at every call
      return tf.div(tf.reshape(sums, [n, ho, wo, c]), s * s);
    }
    const counts = new Float32Array(ho * wo);
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        counts[i * wo + j] = (Math.min(h, s * i + s) - s * i) *
          (Math.min(w, s * j + s) - s * j);
      }
    }
    return tf.reshape(
      tf.div(
        tf.reshape(sums, [n, ho * wo, c]),
        tf.tensor3d(counts, [1, ho * wo, 1]),
      ),
      [n, ho, wo, c],
    );
  }

  /** Applies the layer; `kwargs.training` selects training behaviour. */
  override call(
    inputs: Tensor | Tensor[],
    kwargs: Record<string, unknown>,
  ): Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const training = kwargs["training"] === true;
      const kernels = this.generateKernels(x, training);
      switch (this.#resolvedAggregation()) {
        case "fused":
          return fusedInvolution(x, kernels, {
            kernelSize: this.kernelSize,
            strides: this.strides,
            groupChannels: this.groupChannels,
          });
        case "unfold":
          return this.#aggregateUnfold(x, kernels);
        default:
          return this.#aggregateSlices(x, kernels);
      }
    });
  }

  #resolvedAggregation(): "fused" | "slices" | "unfold" {
    if (this.aggregation === "auto") {
      return hasFusedInvolution() ? "fused" : "slices";
    }
    if (this.aggregation === "fused" && !hasFusedInvolution()) {
      throw new Error(
        `Involution aggregation "fused" needs the backend's fused involution kernel; backend "${tf.getBackend()}" has none (use "auto")`,
      );
    }
    return this.aggregation;
  }

  /** The K·K shifted (and strided) views of the padded input, each [N,Ho,Wo,C]. */
  #shiftedViews(x: tf.Tensor4D, ho: number, wo: number): tf.Tensor4D[] {
    const [n, h, w, c] = x.shape;
    const k = this.kernelSize;
    const s = this.strides;
    const p = (k - 1) / 2;
    // Pad enough that every view spans s·Ho rows, so a stride-s view is a plain
    // slice + reshape (tfjs has no gradient for strided slices).
    const extraH = Math.max(0, k - 1 + s * ho - (h + 2 * p));
    const extraW = Math.max(0, k - 1 + s * wo - (w + 2 * p));
    const padded = tf.pad(x, [[0, 0], [p, p + extraH], [p, p + extraW], [
      0,
      0,
    ]]);
    const views: tf.Tensor4D[] = [];
    for (let u = 0; u < k; u++) {
      for (let v = 0; v < k; v++) {
        if (s === 1) {
          views.push(tf.slice(padded, [0, u, v, 0], [n, ho, wo, c]));
        } else {
          const window = tf.slice(padded, [0, u, v, 0], [n, s * ho, s * wo, c]);
          const rows = tf.reshape(window, [n * ho, s, wo, s * c]);
          const picked = tf.slice(rows, [0, 0, 0, 0], [n * ho, 1, wo, c]);
          views.push(tf.reshape(picked, [n, ho, wo, c]));
        }
      }
    }
    return views;
  }

  #aggregateSlices(x: tf.Tensor4D, kernels: tf.Tensor4D): tf.Tensor4D {
    const [n, ho, wo] = kernels.shape;
    const c = this.#channels;
    const g = this.#groups;
    const pixels = n * ho * wo;
    const views = this.#shiftedViews(x, ho, wo);
    const flatKernels = tf.reshape(kernels, [pixels, kernels.shape[3]]);
    let sum: tf.Tensor | undefined;
    views.forEach((view, offset) => {
      const kernel = tf.reshape(
        tf.slice(flatKernels, [0, offset * g], [pixels, g]),
        [pixels, g, 1],
      );
      const term = tf.mul(
        tf.reshape(view, [pixels, g, this.groupChannels]),
        kernel,
      );
      sum = sum === undefined ? term : tf.add(sum, term);
    });
    return tf.reshape(sum!, [n, ho, wo, c]);
  }

  #aggregateUnfold(x: tf.Tensor4D, kernels: tf.Tensor4D): tf.Tensor4D {
    const [n, ho, wo] = kernels.shape;
    const c = this.#channels;
    const g = this.#groups;
    const kk = this.kernelSize * this.kernelSize;
    const pixels = n * ho * wo;
    const patches = tf.reshape(
      tf.concat(this.#shiftedViews(x, ho, wo), 3),
      [pixels, kk, g, this.groupChannels],
    );
    const weighted = tf.mul(patches, tf.reshape(kernels, [pixels, kk, g, 1]));
    return tf.reshape(tf.sum(weighted, 1), [n, ho, wo, c]);
  }

  /** Multiply-adds x2 per image for an input of `[h, w, c]`. */
  flopsPerImage(inputShape: number[]): number {
    const [h, w, c] = inputShape;
    const ho = Math.ceil(h / this.strides);
    const wo = Math.ceil(w / this.strides);
    const reduced = Math.max(1, Math.floor(c / this.reductionRatio));
    const kk = this.kernelSize * this.kernelSize;
    const groups = c / this.groupChannels;
    const generation = 2 * ho * wo * (c * reduced + reduced * kk * groups);
    const aggregation = 2 * ho * wo * kk * c;
    return generation + aggregation;
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    const config: tf.serialization.ConfigDict = {
      kernelSize: this.kernelSize,
      strides: this.strides,
      groupChannels: this.groupChannels,
      reductionRatio: this.reductionRatio,
      aggregation: this.aggregation,
      momentum: this.momentum,
      epsilon: this.epsilon,
    };
    if (this.seed !== undefined) config.seed = this.seed;
    return { ...super.getConfig(), ...config };
  }
}
tf.serialization.registerClass(Involution);

/** Whether the active backend is WebGPU, where a step costs its dispatches. */
function onWebGpu(): boolean {
  return tf.getBackend() === "webgpu";
}
