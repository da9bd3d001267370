/** What the server knows about the model it serves. */
export interface ModelInfo {
  /** Model name used in URLs (`/v2/models/{name}`); letters, digits, `.`, `_`, `-`. */
  name: string;
  /** Model version: a short fingerprint of the weights. */
  version: string;
  /** Class names; index `k` names class `k`. */
  classNames: string[];
  /** Input image size and normalisation the model was trained with. */
  input: {
    height: number;
    width: number;
    channels: number;
    /** Per-channel mean and std in `[0, 1]` units: `x = (p / 255 - mean) / std`. */
    normalization: { mean: number[]; std: number[] };
  };
  /** Head names, class head first, then one per distillation token. */
  heads: string[];
  /** Architecture name, for metadata. */
  architecture: string;
}

/**
 * A batch of model inputs, NHWC: `uint8` pixels (normalised by the runner
 * exactly as in training) or `float32` values already normalised.
 */
export type ModelInput =
  | { dtype: "uint8"; data: Uint8Array; count: number }
  | { dtype: "float32"; data: Float32Array; count: number };

/** The kind of data a {@linkcode ModelInput} carries. */
export type InputDtype = ModelInput["dtype"];

/** What a runner returns for `count` images. */
export interface ModelOutput {
  /** `count * classes` probabilities: the mean over heads of softmax. */
  probabilities: Float32Array;
  /** Per head, `count * classes` softmax probabilities. */
  headProbabilities: Float32Array[];
}

/**
 * Runs the served model on a batch. The server core only talks to this
 * interface, so it does not depend on tfjs details.
 */
export interface ModelRunner {
  /** What the model is and what it expects. */
  readonly info: ModelInfo;
  /** Predicts `input.count` images at once. */
  predict(input: ModelInput): Promise<ModelOutput>;
  /** Frees the model's memory. */
  dispose(): void;
}
