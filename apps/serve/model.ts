import * as tf from "@tensorflow/tfjs";
import { normalizeImages } from "@vitkd/data";
import {
  loadModel,
  ModelError,
  type ModelMeta,
  predictLogitsPerHead,
} from "@vitkd/models";
import { modelNameFrom } from "./runs.ts";
import { verifyWeights } from "./weights_check.ts";
import type {
  ModelInfo,
  ModelInput,
  ModelOutput,
  ModelRunner,
} from "./runner.ts";

/** Options for {@linkcode loadRunner}. */
export interface LoadRunnerOptions {
  /** Name to serve the model under (default: from the folder). */
  name?: string;
  /**
   * Teacher names, one per distillation head, to name the heads by
   * (default `distill-1`, `distill-2`, ...). Ignored when the count differs.
   */
  teachers?: string[];
}

// What the server relies on is missing or disagrees with the model itself.
function fail(dir: string, problem: string): never {
  throw new ModelError(`${dir}: ${problem}`, { code: "mismatch", path: dir });
}

/** Checks what the server relies on in `meta.json` against the model itself. */
function checkModel(dir: string, model: tf.LayersModel, meta: ModelMeta): void {
  const { classNames, input } = meta;
  if (!Array.isArray(classNames) || classNames.length === 0) {
    fail(dir, "meta.json has no classNames");
  }
  if (
    !input ||
    ![input.height, input.width, input.channels].every((d) =>
      Number.isInteger(d) && d > 0
    )
  ) {
    fail(
      dir,
      `meta.json input must have positive height, width, channels, got ${
        JSON.stringify(input)
      }`,
    );
  }
  if (input.channels !== 1 && input.channels !== 3) {
    fail(dir, `meta.json input.channels is ${input.channels}; expected 1 or 3`);
  }
  const norm = input.normalization;
  if (
    !norm || norm.mean?.length !== input.channels ||
    norm.std?.length !== input.channels ||
    norm.std.some((s) => !(s > 0))
  ) {
    fail(
      dir,
      `meta.json input.normalization needs ${input.channels} means and positive stds, got ${
        JSON.stringify(norm)
      }`,
    );
  }
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== input.height || w !== input.width || c !== input.channels) {
    fail(
      dir,
      `model takes [${h}, ${w}, ${c}] but meta.json says ${input.height}x${input.width}x${input.channels}`,
    );
  }
  for (const output of model.outputs) {
    const classes = output.shape[output.shape.length - 1];
    if (classes !== classNames.length) {
      fail(
        dir,
        `model head gives ${classes} classes, meta.json names ${classNames.length}`,
      );
    }
  }
}

/** Serves a tfjs student loaded from a saved model folder. */
export class TfModelRunner implements ModelRunner {
  /** The loaded model. */
  readonly model: tf.LayersModel;
  /** Its `meta.json`. */
  readonly meta: ModelMeta;
  /** What the server reports about it. */
  readonly info: ModelInfo;

  /** @param model loaded model; @param meta its metadata; @param info served identity */
  constructor(model: tf.LayersModel, meta: ModelMeta, info: ModelInfo) {
    this.model = model;
    this.meta = meta;
    this.info = info;
  }

  /**
   * Normalises uint8 pixels with `normalizeImages` (as in training), runs the
   * model once and returns the averaged softmax, computed with the same ops as
   * `predictProbabilities`, plus each head's softmax.
   */
  async predict(input: ModelInput): Promise<ModelOutput> {
    const { height, width, channels, normalization } = this.info.input;
    const tensors = tf.tidy(() => {
      const x = input.dtype === "uint8"
        ? normalizeImages(
          input.data,
          input.count,
          height,
          width,
          channels,
          normalization,
        )
        : tf.tensor4d(input.data, [input.count, height, width, channels]);
      const heads = predictLogitsPerHead(this.model, x).map((logits) =>
        tf.softmax(logits)
      );
      const mean = heads.length === 1
        ? heads[0]
        : tf.div(tf.addN(heads), heads.length);
      return [mean, ...heads];
    });
    try {
      const [probabilities, ...headProbabilities] = await Promise.all(
        tensors.map((t) => t.data() as Promise<Float32Array>),
      );
      return { probabilities, headProbabilities };
    } finally {
      tf.dispose(tensors);
    }
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Loads a saved student folder (`model.json`, `weights.bin`, `meta.json`)
 * with `loadModel` and checks it is servable: consistent with `meta.json`,
 * and its weights those `meta.json`'s fingerprint vouches for.
 *
 * @throws {ModelError} naming the folder and what is missing or inconsistent
 */
export async function loadRunner(
  dir: string,
  options: LoadRunnerOptions = {},
): Promise<TfModelRunner> {
  const { model, meta } = await loadModel(dir);
  let fingerprint: string;
  try {
    checkModel(dir, model, meta);
    fingerprint = await verifyWeights(dir, model, meta.weightFingerprint);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const teachers = options.teachers?.length === model.outputs.length - 1
    ? options.teachers
    : undefined;
  const heads = model.outputs.map((_, i) =>
    i === 0 ? "class" : teachers ? teachers[i - 1] : `distill-${i}`
  );
  const folder = dir.replace(/\/+$/, "").split("/");
  const fallback = folder.at(-1) === "student" && folder.length > 1
    ? folder.at(-2)!
    : folder.at(-1) ?? "model";
  const info: ModelInfo = {
    name: modelNameFrom(options.name ?? fallback),
    version: fingerprint.slice(0, 12),
    classNames: [...meta.classNames],
    input: {
      height: meta.input.height,
      width: meta.input.width,
      channels: meta.input.channels,
      normalization: {
        mean: [...meta.input.normalization.mean],
        std: [...meta.input.normalization.std],
      },
    },
    heads,
    architecture: meta.architecture?.name ?? "unknown",
  };
  return new TfModelRunner(model, meta, info);
}

/**
 * Runs the model once on a blank batch of each size in `batchSizes` (and
 * once more on the largest, as the first call of a size takes other paths),
 * before the server says it is listening: the first clients then do not wait
 * for kernels to compile, and the backend's memory has grown to its working
 * size, so the RSS a server reports at its start is the one it keeps.
 *
 * @param runner The model to warm.
 * @param batchSizes The batch sizes the server will run.
 */
export async function warmUp(
  runner: ModelRunner,
  batchSizes: readonly number[],
): Promise<void> {
  const { height, width, channels } = runner.info.input;
  const sizes = [...new Set(batchSizes)].filter((n) => n >= 1).sort((a, b) =>
    a - b
  );
  for (const count of [...sizes, ...sizes.slice(-1)]) {
    await runner.predict({
      dtype: "uint8",
      data: new Uint8Array(count * height * width * channels),
      count,
    });
  }
}
