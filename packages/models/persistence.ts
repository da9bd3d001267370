import * as tf from "@tensorflow/tfjs";
import { ModelError } from "./errors.ts";
import type { ModelOptions } from "./options.ts";
import { hasModel } from "./registry.ts";
import type { IOHandler, LayersModel } from "./tf_types.ts";

/** Format id written in every `meta.json`. */
export const MODEL_FORMAT = "vitkd-model";
/** Version of the `meta.json` layout this code writes and reads. */
export const MODEL_FORMAT_VERSION = 1;

/** Per-channel input normalisation: `x = (pixel / 255 - mean[c]) / std[c]`. */
export interface InputNormalization {
  /** Per-channel mean of pixel / 255. */
  mean: number[];
  /** Per-channel standard deviation of pixel / 255. */
  std: number[];
}

/** What a model expects as input. */
export interface ModelInput {
  /** Image height. */
  height: number;
  /** Image width. */
  width: number;
  /** Image channels. */
  channels: number;
  /** Normalisation applied before the model (not inside it). */
  normalization: InputNormalization;
}

/** `meta.json` of a saved model folder. */
export interface ModelMeta {
  /** Always {@linkcode MODEL_FORMAT}. */
  format: typeof MODEL_FORMAT;
  /** Always {@linkcode MODEL_FORMAT_VERSION}. */
  version: number;
  /** Registry name and options that rebuild the architecture. */
  architecture: { name: string; options: ModelOptions };
  /** Class names in label order. */
  classNames: string[];
  /** Input shape and normalisation. */
  input: ModelInput;
  /** Fingerprint of the data set the model was trained on. */
  dataFingerprint: string;
  /** Free-form metrics (accuracy, loss, epochs, ...). */
  metrics: Record<string, number | string>;
  /** ISO time of saving. */
  createdAt: string;
  /** {@linkcode weightFingerprint} of the saved weights. */
  weightFingerprint: string;
}

/** The fields of {@linkcode ModelMeta} a caller supplies to `saveModel`. */
export type ModelMetaInput =
  & Omit<ModelMeta, "format" | "version" | "createdAt" | "weightFingerprint">
  & {
    createdAt?: string;
  };

const MODEL_JSON = "model.json";
const WEIGHTS_BIN = "weights.bin";
const META_JSON = "meta.json";

function join(dir: string, file: string): string {
  return dir.endsWith("/") ? dir + file : `${dir}/${file}`;
}

async function writeAtomic(
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    // Best effort: the write's own error is the one to report.
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Reads a file of a model folder; a missing one is a `ModelError` naming it. */
async function readPart<T>(
  dir: string,
  path: string,
  read: (path: string) => Promise<T>,
): Promise<T> {
  try {
    return await read(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new ModelError(
      `model folder ${dir} is incomplete: ${path} is missing`,
      { code: "not-found", path, cause: error },
    );
  }
}

/**
 * A tfjs IO handler over a Deno folder: `save` writes `model.json` and
 * `weights.bin` atomically, `load` reads them back.
 */
export function denoFolderHandler(dir: string): IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new ModelError(
          `${dir}: binary model topologies are not supported`,
          { code: "unsupported", path: dir },
        );
      }
      await Deno.mkdir(dir, { recursive: true });
      const weights = artifacts.weightData === undefined
        ? new ArrayBuffer(0)
        : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts
          .modelTopology as tf.io.ModelJSON["modelTopology"],
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy ??
          `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{
          paths: [`./${WEIGHTS_BIN}`],
          weights: artifacts.weightSpecs ?? [],
        }],
      };
      if (artifacts.trainingConfig) {
        modelJson.trainingConfig = artifacts.trainingConfig;
      }
      await writeAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      await writeAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = join(dir, MODEL_JSON);
      const binPath = join(dir, WEIGHTS_BIN);
      const jsonText = await readPart(dir, jsonPath, Deno.readTextFile);
      const bytes = await readPart(dir, binPath, Deno.readFile);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(jsonText);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        throw new ModelError(
          `${jsonPath} is not valid JSON: ${error.message}`,
          { path: jsonPath, cause: error },
        );
      }
      if (
        !modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)
      ) {
        throw new ModelError(
          `${jsonPath} is not a tfjs layers model: modelTopology or weightsManifest missing`,
          { code: "unsupported", path: jsonPath },
        );
      }
      const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
      const expectedBytes = specs.reduce(
        (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1) * 4,
        0,
      );
      if (bytes.byteLength !== expectedBytes) {
        throw new ModelError(
          `${binPath} holds ${bytes.byteLength} bytes but ${jsonPath} describes ${expectedBytes}`,
          { path: binPath },
        );
      }
      return {
        modelTopology: modelJson.modelTopology,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
        trainingConfig: modelJson.trainingConfig,
        weightSpecs: specs,
        weightData: bytes.buffer.slice(
          bytes.byteOffset,
          bytes.byteOffset + bytes.byteLength,
        ),
      };
    },
  };
}

/**
 * A fingerprint of the model's weights (names, shapes and values): equal
 * weights give equal fingerprints. 16 hex digits, prefixed `w1-`.
 */
export async function weightFingerprint(
  model: LayersModel,
): Promise<string> {
  // Two independent 32-bit multiply-xor hashes give 64 bits, synchronously.
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x01000193 | 0;
  const mixWord = (word: number) => {
    h1 = Math.imul(h1 ^ word, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h2 = Math.imul(h2 ^ word, 0xc2b2ae35) + 0x27d4eb2f | 0;
    h2 ^= h2 >>> 16;
  };
  const encoder = new TextEncoder();
  for (const weight of model.weights) {
    const header = encoder.encode(`${weight.shape.join("x")};`);
    for (const byte of header) mixWord(byte);
    const values = await weight.read().data();
    const words = new Uint32Array(
      values.buffer,
      values.byteOffset,
      values.length,
    );
    for (let i = 0; i < words.length; i++) mixWord(words[i]);
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return `w1-${hex(h1)}${hex(h2)}`;
}

function checkMeta(
  meta: ModelMetaInput,
  where: string,
  path?: string,
): void {
  const problem = (field: string, expected: string, actual: unknown) =>
    new ModelError(
      `${where}: ${field} must be ${expected}, got ${JSON.stringify(actual)}`,
      { code: path === undefined ? "bad-options" : "corrupt", path },
    );
  if (!meta.architecture || typeof meta.architecture.name !== "string") {
    throw problem("architecture.name", "a string", meta.architecture?.name);
  }
  if (
    !meta.architecture.options || typeof meta.architecture.options !== "object"
  ) {
    throw problem(
      "architecture.options",
      "an object",
      meta.architecture.options,
    );
  }
  if (
    !Array.isArray(meta.classNames) ||
    !meta.classNames.every((c) => typeof c === "string")
  ) {
    throw problem("classNames", "an array of strings", meta.classNames);
  }
  const input = meta.input;
  if (
    !input ||
    ![input.height, input.width, input.channels].every((d) =>
      Number.isInteger(d) && d > 0
    )
  ) {
    throw problem(
      "input",
      "{height, width, channels} of positive integers",
      input,
    );
  }
  const norm = input.normalization;
  if (
    !norm || !Array.isArray(norm.mean) || !Array.isArray(norm.std) ||
    norm.mean.length !== input.channels || norm.std.length !== input.channels
  ) {
    throw problem(
      "input.normalization",
      `{mean, std} with ${input.channels} values each`,
      norm,
    );
  }
  if (typeof meta.dataFingerprint !== "string") {
    throw problem("dataFingerprint", "a string", meta.dataFingerprint);
  }
  if (!meta.metrics || typeof meta.metrics !== "object") {
    throw problem("metrics", "an object", meta.metrics);
  }
}

/**
 * Saves `model` into folder `dir`: `model.json`, `weights.bin` and
 * `meta.json`, each written atomically (meta.json last, so a folder with a
 * meta.json is complete). Returns the meta written.
 */
export async function saveModel(
  model: LayersModel,
  dir: string,
  meta: ModelMetaInput,
): Promise<ModelMeta> {
  checkMeta(meta, `saveModel(${dir})`);
  const full: ModelMeta = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    architecture: meta.architecture,
    classNames: meta.classNames,
    input: meta.input,
    dataFingerprint: meta.dataFingerprint,
    metrics: meta.metrics,
    createdAt: meta.createdAt ?? new Date().toISOString(),
    weightFingerprint: await weightFingerprint(model),
  };
  // A stale meta.json must not vouch for half-written new weights, so only
  // its absence is fine.
  await Deno.remove(join(dir, META_JSON)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await model.save(denoFolderHandler(dir));
  await writeAtomic(join(dir, META_JSON), JSON.stringify(full, null, 2) + "\n");
  return full;
}

/** Reads and checks `meta.json` of a saved model folder. */
export async function readModelMeta(dir: string): Promise<ModelMeta> {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) {
      throw new ModelError(`model folder ${dir} is not a folder`, {
        code: "not-found",
        path: dir,
      });
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ModelError(`model folder ${dir} does not exist`, {
        code: "not-found",
        path: dir,
        cause: error,
      });
    }
    throw error;
  }
  const path = join(dir, META_JSON);
  const metaText = await readPart(dir, path, Deno.readTextFile);
  let meta: ModelMeta;
  try {
    meta = JSON.parse(metaText);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ModelError(`${path} is not valid JSON: ${error.message}`, {
      path,
      cause: error,
    });
  }
  if (meta?.format !== MODEL_FORMAT) {
    throw new ModelError(
      `${path}: format is ${
        JSON.stringify(meta?.format)
      }, expected "${MODEL_FORMAT}"`,
      { code: "unsupported", path },
    );
  }
  if (meta.version !== MODEL_FORMAT_VERSION) {
    throw new ModelError(
      `${path}: format version ${
        JSON.stringify(meta.version)
      } is not supported (expected ${MODEL_FORMAT_VERSION})`,
      { code: "unsupported", path },
    );
  }
  checkMeta(meta, path, path);
  if (!hasModel(meta.architecture.name)) {
    throw new ModelError(
      `${path}: unknown architecture "${meta.architecture.name}" (not in the model registry)`,
      { code: "unsupported", path },
    );
  }
  return meta;
}

/** Loads a folder written by {@linkcode saveModel}. */
export async function loadModel(
  dir: string,
): Promise<{ model: LayersModel; meta: ModelMeta }> {
  const meta = await readModelMeta(dir);
  let model: LayersModel;
  try {
    model = await tf.loadLayersModel(denoFolderHandler(dir));
  } catch (error) {
    if (error instanceof ModelError) throw error;
    // tfjs's own errors: a topology or weights manifest it cannot build
    throw new ModelError(
      `${join(dir, MODEL_JSON)}: tfjs cannot build the model: ${
        (error as Error).message
      }`,
      { path: join(dir, MODEL_JSON), cause: error },
    );
  }
  const shape = model.inputs[0].shape;
  const { height, width, channels } = meta.input;
  if (shape[1] !== height || shape[2] !== width || shape[3] !== channels) {
    model.dispose();
    throw new ModelError(
      `${dir}: model input [${
        shape.slice(1).join(",")
      }] does not match meta.json input ${height}x${width}x${channels}`,
      { code: "mismatch", path: dir },
    );
  }
  return { model, meta };
}
