import * as tf from "@tensorflow/tfjs";
import {
  canUpdateInPlace,
  fusedBatchNormTraining,
  hasFusedBatchNorm,
  hasMovingAverages,
  movingAverages,
  movingAveragesInPlace,
} from "@vitkd/backend";
import {
  type ConfigDict,
  Layer,
  type LayerVariable,
  type Shape,
  type Tensor,
} from "./tf_types.ts";

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** Moving statistics a training batch norm moves towards the batch's. */
export interface MovingStatisticsUpdate {
  /** The moving mean and the moving variance. */
  variables: readonly [LayerVariable, LayerVariable];
  /** The weight of the old values (Keras convention). */
  momentum: number;
}

/**
 * Training-mode batch norm over every axis but the last, with a hand-written
 * gradient. It computes what `tf.batchNorm` does; tfjs's own FusedBatchNorm
 * gradient tiles `1/sqrt(var)` to the full input size, and Tile is the slowest
 * kernel of a training step on wasm. Where the backend has the fused kernel
 * (wasm after `initBackend`) the whole forward and the whole backward each run
 * as one kernel (`fusedBatchNormTraining`). With `relu` the output is
 * `max(y, 0)`, fused into the same kernels where they exist. With `moving`,
 * the moving statistics are updated too: in place inside the batch norm
 * kernel where it can (WebGPU and wasm, when no other tensor shares their
 * buffers), else by {@linkcode updateMovingStatistics}.
 */
export function batchNormTraining(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
  relu = false,
  moving?: MovingStatisticsUpdate,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  if (hasFusedBatchNorm()) {
    const out = fusedBatchNormTraining(
      x,
      gamma,
      beta,
      epsilon,
      relu,
      moving && {
        mean: moving.variables[0].read(),
        variance: moving.variables[1].read(),
        momentum: moving.momentum,
      },
    );
    if (moving && !out.movingUpdated) {
      updateMovingStatistics(
        moving.variables,
        [out.mean, out.variance],
        moving.momentum,
      );
    }
    return { y: out.y, mean: out.mean, variance: out.variance };
  }
  const out = composedBatchNormTraining(x, gamma, beta, epsilon, relu);
  if (moving) {
    updateMovingStatistics(
      moving.variables,
      [out.mean, out.variance],
      moving.momentum,
    );
  }
  return out;
}

function composedBatchNormTraining(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
  relu: boolean,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  if (relu) {
    const plain = composedBatchNormTraining(x, gamma, beta, epsilon, false);
    return { ...plain, y: tf.relu(plain.y) };
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const count = x.size / x.shape[x.rank - 1];
  const { mean, variance } = tf.moments(x, axes);
  const normalize = tf.customGrad(
    ((...args: unknown[]) => {
      const [input, m, v, g, b] = args as tf.Tensor[];
      const save = args[5] as (tensors: tf.Tensor[]) => void;
      const inverse = tf.rsqrt(tf.add(v, epsilon));
      const normalized = tf.mul(tf.sub(input, m), inverse);
      save([normalized, inverse, g]);
      return {
        value: tf.add(tf.mul(normalized, g), b),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xhat, inv, scale] = saved;
          const dBeta = tf.sum(dy, axes);
          const dGamma = tf.sum(tf.mul(dy, xhat), axes);
          const dx = tf.mul(
            tf.sub(
              tf.sub(dy, tf.div(dBeta, count)),
              tf.mul(xhat, tf.div(dGamma, count)),
            ),
            tf.mul(scale, inv),
          );
          // mean and variance enter as values only: x's gradient above already
          // accounts for their dependence on x.
          return [dx, tf.zerosLike(m), tf.zerosLike(v), dGamma, dBeta];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const y = normalize(x, mean, variance, gamma, beta);
  return { y, mean, variance };
}

/** Options of {@linkcode BatchNorm}. */
export interface BatchNormArgs {
  /** Momentum of the moving statistics (Keras convention). */
  momentum?: number;
  /** Added to the variance. */
  epsilon?: number;
  /** Layer name. */
  name?: string;
  /** An activation applied after normalising: `relu`, or none (default). */
  activation?: "relu" | "linear";
}

/**
 * Batch normalisation over the last axis, like `tf.layers.batchNormalization`
 * (same weights, same Keras momentum convention), with a gradient that is
 * fast on wasm (see {@linkcode batchNormTraining}).
 */
export class BatchNorm extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdBatchNorm";
  /** Momentum of the moving statistics. */
  readonly momentum: number;
  /** Added to the variance. */
  readonly epsilon: number;
  /** Activation after normalising. */
  readonly activation: "relu" | "linear";
  #gamma?: tf.LayerVariable;
  #beta?: tf.LayerVariable;
  #movingMean?: tf.LayerVariable;
  #movingVariance?: tf.LayerVariable;

  /** Creates the layer. */
  constructor(args: BatchNormArgs = {}) {
    super({ name: args.name } as LayerArgs);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.activation = args.activation ?? "linear";
    if (this.activation !== "relu" && this.activation !== "linear") {
      throw new Error(
        `BatchNorm: activation must be "relu" or "linear", got "${this.activation}"`,
      );
    }
    if (!(this.momentum >= 0 && this.momentum <= 1) || !(this.epsilon > 0)) {
      throw new Error(
        `BatchNorm: momentum must be in [0, 1] and epsilon > 0, got ${this.momentum} and ${this.epsilon}`,
      );
    }
  }

  /** Creates the weights for the given input shape. */
  override build(inputShape: Shape | Shape[]): void {
    const shape =
      (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (channels == null) {
      throw new Error("BatchNorm needs a known channel count");
    }
    this.#gamma = this.addWeight(
      "gamma",
      [channels],
      "float32",
      tf.initializers.ones(),
    );
    this.#beta = this.addWeight(
      "beta",
      [channels],
      "float32",
      tf.initializers.zeros(),
    );
    this.#movingMean = this.addWeight(
      "moving_mean",
      [channels],
      "float32",
      tf.initializers.zeros(),
      undefined,
      false,
    );
    this.#movingVariance = this.addWeight(
      "moving_variance",
      [channels],
      "float32",
      tf.initializers.ones(),
      undefined,
      false,
    );
    this.built = true;
  }

  /** The output shape for an input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0])
      ? inputShape[0]
      : inputShape) as tf.Shape;
  }

  /** Normalises with batch statistics in training (updating the moving ones), else with the moving ones. */
  override call(
    inputs: Tensor | Tensor[],
    kwargs: Record<string, unknown>,
  ): Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const relu = this.activation === "relu";
      if (kwargs["training"] !== true) {
        const y = tf.batchNorm(
          x,
          this.#movingMean!.read(),
          this.#movingVariance!.read(),
          this.#beta!.read(),
          this.#gamma!.read(),
          this.epsilon,
        );
        return relu ? tf.relu(y) : y;
      }
      return batchNormTraining(
        x,
        this.#gamma!.read(),
        this.#beta!.read(),
        this.epsilon,
        relu,
        {
          variables: [this.#movingMean!, this.#movingVariance!],
          momentum: this.momentum,
        },
      ).y;
    });
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return {
      ...super.getConfig(),
      momentum: this.momentum,
      epsilon: this.epsilon,
      activation: this.activation,
    };
  }
}
tf.serialization.registerClass(BatchNorm);

/** `variable <- momentum * variable + (1 - momentum) * value`, outside any gradient. */
export function updateMovingAverage(
  variable: LayerVariable,
  value: Tensor,
  momentum: number,
): void {
  tf.tidy(() => {
    const old = variable.read();
    variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum)));
  });
}

/**
 * {@linkcode updateMovingAverage} of several variables at once: on WebGPU
 * one in-place dispatch for all of them (three each composed), on wasm one
 * kernel call, elsewhere the composed update per variable. The same values
 * either way.
 *
 * @param variables The moving statistics (e.g. mean and variance).
 * @param values This batch's statistics, in the same order.
 * @param momentum The weight of the old values.
 */
export function updateMovingStatistics(
  variables: readonly LayerVariable[],
  values: readonly Tensor[],
  momentum: number,
): void {
  const targets = variables.map((v) => v.read());
  if (canUpdateInPlace(targets)) {
    movingAveragesInPlace(targets, values, 1 - momentum);
    return;
  }
  if (hasMovingAverages()) {
    tf.tidy(() =>
      movingAverages(targets, values, 1 - momentum).forEach((t, i) =>
        variables[i].write(t)
      )
    );
    return;
  }
  variables.forEach((v, i) => updateMovingAverage(v, values[i], momentum));
}
