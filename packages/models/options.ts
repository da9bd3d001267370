import { ModelError } from "./errors.ts";

/** Options every model builder accepts. */
export interface CommonModelOptions {
  /** Input shape `[height, width, channels]` of the normalised float input. */
  inputShape?: [number, number, number];
  /** Number of classes of the logits. */
  numClasses?: number;
  /** Seed of every weight initializer: the same seed gives the same weights. */
  seed?: number;
}

/** Options of the ResNet / RedNet teachers. */
export interface ResNetOptions extends CommonModelOptions {
  /** Channels of the three stages (reference: 16, 32, 64). */
  widths?: number[];
  /** Basic blocks per stage: 1 gives ResNet-8, 3 gives ResNet-20. */
  blocksPerStage?: number;
  /** Involution kernel size K (RedNet only). */
  involutionKernelSize?: number;
  /** Channels per involution group (RedNet only). */
  groupChannels?: number;
  /** Involution reduction ratio (RedNet only). */
  reductionRatio?: number;
}

/** Options of the ViT student. */
export interface VitOptions extends CommonModelOptions {
  /** Side of the square patches; the input height and width must divide by it. */
  patchSize?: number;
  /** Token width D. */
  dim?: number;
  /** Number of transformer blocks. */
  depth?: number;
  /** Attention heads per block. */
  numHeads?: number;
  /** Hidden width of the MLP. */
  mlpDim?: number;
  /** Distillation tokens T (one per teacher); 0 gives a plain ViT. */
  numDistillationTokens?: number;
  /**
   * Where the distillation tokens come from: `learned` (the default, as
   * DeiT) or `stems` (pooled conv / involution stems over the image, as
   * Co-advise); see `stem_tokens.ts`.
   */
  distillationTokens?: "learned" | "stems";
  /** Channels of each token stem's full-resolution layer (default 16). */
  stemChannels?: number;
  /** Dropout rate after attention, in the MLP and after the embedding. */
  dropout?: number;
  /** Largest stochastic-depth rate (rises linearly over the blocks). */
  dropPath?: number;
}

/** The union of every builder's options, as stored in `ModelMeta`. */
export type ModelOptions = ResNetOptions & VitOptions & Record<string, unknown>;

/** Checks the options every model shares; throws an error naming the field. */
export function checkCommonOptions(
  name: string,
  options: CommonModelOptions,
): void {
  const shape = options.inputShape;
  if (
    !Array.isArray(shape) || shape.length !== 3 ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new ModelError(
      `${name}: inputShape must be [height, width, channels] of positive integers, got ${
        JSON.stringify(shape)
      }`,
      { code: "bad-options" },
    );
  }
  if (!Number.isInteger(options.numClasses) || (options.numClasses ?? 0) < 1) {
    throw new ModelError(
      `${name}: numClasses must be an integer >= 1, got ${options.numClasses}`,
      { code: "bad-options" },
    );
  }
  if (options.seed !== undefined && !Number.isFinite(options.seed)) {
    throw new ModelError(
      `${name}: seed must be a finite number, got ${options.seed}`,
      { code: "bad-options" },
    );
  }
}

/** Throws unless `value` is an integer >= `min`, naming the option. */
export function checkInteger(
  name: string,
  field: string,
  value: unknown,
  min: number,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new ModelError(
      `${name}: ${field} must be an integer >= ${min}, got ${
        JSON.stringify(value)
      }`,
      { code: "bad-options" },
    );
  }
  return value;
}

/** Throws unless `value` is a rate in [0, 1), naming the option. */
export function checkRate(name: string, field: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new ModelError(
      `${name}: ${field} must be a number in [0, 1), got ${
        JSON.stringify(value)
      }`,
      { code: "bad-options" },
    );
  }
  return value;
}
