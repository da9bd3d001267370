import * as tf from "@tensorflow/tfjs";
import { DistillError } from "./errors.ts";
import {
  type AdamWItem,
  adamwUpdatePackedInPlace,
  canUpdateInPlace,
  fusedAdamWStep,
  hasFusedAdamW,
  ownBufferCopy,
} from "@vitkd/backend";
import { AdamWMoments } from "./adamw_moments.ts";
import type { NamedTensorMap, Scalar, Tensor, Variable } from "./tf_types.ts";

/** Hyper-parameters of {@linkcode AdamW}. */
export interface AdamWConfig {
  /** Learning rate used when `step` is given none (default 1e-3). */
  learningRate?: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999). */
  beta2?: number;
  /** Added to the root of the second moment (default 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay, multiplied by the learning rate (default 0.05). */
  weightDecay?: number;
  /**
   * Whether a variable is excluded from weight decay; the default excludes
   * every variable of rank <= 1 and those named like biases, norms, position
   * embeddings or tokens.
   */
  skipDecay?: (variable: Variable) => boolean;
}

/** The optimizer's saveable state: the step count and both moments per variable. */
export interface AdamWState {
  /** Number of updates applied so far. */
  step: number;
  /** First moments, in the order of the optimizer's variables. */
  m: Float32Array[];
  /** Second moments, in the order of the optimizer's variables. */
  v: Float32Array[];
}

// matched against the weight's own name, the part after the last "/"
const NO_DECAY_LEAF =
  /(^|_)(bias|beta|gamma)$|token|pos(ition)?_?emb|^cls$|moving_(mean|variance)/i;

/**
 * The default weight-decay exclusion: biases, normalisation parameters,
 * position embeddings and learned tokens, recognised by rank <= 1 or by the
 * weight's own name (`.../bias`, `.../gamma`, `.../class_token`,
 * `.../position_embedding`, ...), never by its layer's name.
 */
export function defaultSkipDecay(variable: Variable): boolean {
  const leaf = variable.name.split("/").pop() ?? variable.name;
  return variable.rank <= 1 || NO_DECAY_LEAF.test(leaf);
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter) over a fixed list of
 * `tf.Variable`s:
 * `p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)`, the decay applied
 * only to variables that `skipDecay` does not exclude.
 */
export class AdamW {
  /** The variables this optimizer updates, in state order. */
  readonly variables: readonly Variable[];
  /** First-moment decay. */
  readonly beta1: number;
  /** Second-moment decay. */
  readonly beta2: number;
  /** Added to the root of the second moment. */
  readonly epsilon: number;
  /** Decoupled weight decay coefficient. */
  readonly weightDecay: number;
  /** Learning rate used when `step` is given none. */
  learningRate: number;
  #decays: boolean[];
  #moments: AdamWMoments;
  #step = 0;

  /** Creates the optimizer with zero moments for `variables`. */
  constructor(variables: readonly tf.Variable[], config: AdamWConfig = {}) {
    this.variables = [...variables];
    this.learningRate = config.learningRate ?? 1e-3;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.epsilon = config.epsilon ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0.05;
    for (
      const [name, value, lo, hi] of [
        ["beta1", this.beta1, 0, 1],
        ["beta2", this.beta2, 0, 1],
      ] as const
    ) {
      if (!(value >= lo && value < hi)) {
        throw new DistillError(
          `AdamW: ${name} must be in [0, 1), got ${value}`,
          { code: "bad-options" },
        );
      }
    }
    if (!(this.weightDecay >= 0)) {
      throw new DistillError(
        `AdamW: weightDecay must be >= 0, got ${this.weightDecay}`,
        { code: "bad-options" },
      );
    }
    const skip = config.skipDecay ?? defaultSkipDecay;
    this.#decays = this.variables.map((v) => !skip(v));
    this.#moments = new AdamWMoments(this.variables, packsMoments());
  }

  /** Number of updates applied so far. */
  get iterations(): number {
    return this.#step;
  }

  /** Whether each variable (in order) receives weight decay. */
  get decayMask(): readonly boolean[] {
    return this.#decays;
  }

  /**
   * Applies one update. `gradients` maps variable names to gradients (as
   * `tf.variableGrads` returns them) or lists them in variable order; a
   * variable without a gradient is left unchanged, moments included. Each
   * gradient is first multiplied by `gradScale` when given (a clip factor
   * from `clipScale`), inside the update on WebGPU.
   */
  step(
    gradients: NamedTensorMap | readonly Tensor[],
    learningRate: number = this.learningRate,
    gradScale?: Scalar,
  ): void {
    const list = Array.isArray(gradients)
      ? gradients as readonly tf.Tensor[]
      : this.variables.map((v) =>
        (gradients as tf.NamedTensorMap)[v.name] as tf.Tensor | undefined
      );
    if (list.length !== this.variables.length) {
      throw new Error(
        `AdamW.step: got ${list.length} gradients for ${this.variables.length} variables`,
      );
    }
    this.#step += 1;
    const t = this.#step;
    const correction1 = 1 - Math.pow(this.beta1, t);
    const correction2 = 1 - Math.pow(this.beta2, t);
    const constants = {
      learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      correction1,
      correction2,
      epsilon: this.epsilon,
    };
    const present = this.variables.flatMap((variable, i) => {
      const grad = list[i];
      if (grad === undefined || grad === null) return [];
      if (!tf.util.arraysEqual(grad.shape, variable.shape)) {
        throw new Error(
          `AdamW.step: gradient of "${variable.name}" has shape [${grad.shape}], variable has [${variable.shape}]`,
        );
      }
      const weightDecay = this.#decays[i] ? this.weightDecay : 0;
      return [{ variable, grad, weightDecay, i }];
    });
    if (packsMoments()) {
      // on a GPU: a few dispatches for all of them, not ~14 each
      const moments = this.#moments.packedBuffer();
      const items: AdamWItem[] = present.map(
        ({ variable, grad, weightDecay, i }) => {
          if (!canUpdateInPlace([variable])) {
            // it shares its buffer (made from a live tensor, or a one-value
            // constant): a copy of its own, once (x · 1 is x exactly)
            tf.tidy(() => variable.assign(ownBufferCopy(variable)));
            if (!canUpdateInPlace([variable])) {
              throw new Error(
                `AdamW.step: "${variable.name}" cannot get a GPU buffer of its own`,
              );
            }
          }
          return {
            param: variable,
            grad,
            offset: this.#moments.offsets[i],
            weightDecay,
          };
        },
      );
      adamwUpdatePackedInPlace(items, moments, constants, gradScale);
      return;
    }
    const moments = this.#moments.perVariable();
    if (hasFusedAdamW()) {
      // on wasm: one kernel a variable, not ~14
      tf.tidy(() => {
        for (const { variable, grad, weightDecay, i } of present) {
          const [p, m, v] = fusedAdamWStep(
            variable,
            grad,
            moments.m[i],
            moments.v[i],
            { ...constants, weightDecay },
            gradScale,
          );
          moments.m[i].assign(m);
          moments.v[i].assign(v);
          variable.assign(p);
        }
      });
      return;
    }
    tf.tidy(() => {
      for (const { variable, grad, weightDecay, i } of present) {
        const g = gradScale ? tf.mul(grad, gradScale) : grad;
        const m = tf.add(
          tf.mul(moments.m[i], this.beta1),
          tf.mul(g, 1 - this.beta1),
        );
        const v = tf.add(
          tf.mul(moments.v[i], this.beta2),
          tf.mul(tf.square(g), 1 - this.beta2),
        );
        moments.m[i].assign(m);
        moments.v[i].assign(v);
        let update = tf.div(
          tf.div(m, correction1),
          tf.add(tf.sqrt(tf.div(v, correction2)), this.epsilon),
        );
        if (weightDecay > 0) {
          update = tf.add(update, tf.mul(variable, weightDecay));
        }
        variable.assign(tf.sub(variable, tf.mul(update, learningRate)));
      }
    });
  }

  /**
   * Copies the state out (for checkpoints), reading the moments
   * asynchronously.
   *
   * @returns The step count and copies of both moments per variable.
   */
  async getState(): Promise<AdamWState> {
    return { step: this.#step, ...await this.#moments.read() };
  }

  /** Restores a state taken by {@linkcode AdamW.getState}, checking its sizes. */
  setState(state: AdamWState): void {
    if (
      state.m.length !== this.variables.length ||
      state.v.length !== this.variables.length
    ) {
      throw new DistillError(
        `AdamW.setState: state holds ${state.m.length}/${state.v.length} moments for ${this.variables.length} variables`,
        { code: "mismatch" },
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new DistillError(
        `AdamW.setState: step must be a non-negative integer, got ${state.step}`,
        { code: "mismatch" },
      );
    }
    this.variables.forEach((variable, i) => {
      for (
        const [which, data] of [["m", state.m[i]], ["v", state.v[i]]] as const
      ) {
        if (data.length !== variable.size) {
          throw new DistillError(
            `AdamW.setState: ${which}[${i}] for "${variable.name}" has ${data.length} values, expected ${variable.size}`,
            { code: "mismatch" },
          );
        }
      }
    });
    this.#moments.write(state.m, state.v);
    this.#step = state.step;
  }

  /** Frees the moment variables. */
  dispose(): void {
    this.#moments.dispose();
  }
}

/**
 * Whether the active backend updates AdamW in place with packed moments
 * (WebGPU); elsewhere the update is composed of tfjs ops per variable.
 */
function packsMoments(): boolean {
  return tf.getBackend() === "webgpu";
}
