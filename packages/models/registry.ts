import { ModelError } from "./errors.ts";
import type { ModelOptions } from "./options.ts";
import { buildResNet } from "./resnet.ts";
import { buildVit } from "./vit.ts";
import type { LayersModel } from "./tf_types.ts";

/** Whether a model is a teacher (one logits output) or the student (1 + T outputs). */
export type ModelRole = "teacher" | "student";

/** What `registerModel` needs to build one named model. */
export interface ModelBuilder {
  /** Teacher or student. */
  role: ModelRole;
  /** One line for `listModels` and `--help`. */
  description: string;
  /** Options used where the caller gives none. */
  defaults: ModelOptions;
  /** Builds the model from complete options (defaults already merged). */
  build(name: string, options: ModelOptions): LayersModel;
}

/** One entry of {@linkcode listModels}. */
export interface ModelListing {
  /** Name to pass to `buildModel`. */
  name: string;
  /** Teacher or student. */
  role: ModelRole;
  /** One line describing it. */
  description: string;
  /** Its default options. */
  defaults: ModelOptions;
}

const builders = new Map<string, ModelBuilder>();

/**
 * Registers a builder under `name`; `buildModel(name, options)` then builds
 * it. Registering a name twice replaces the earlier builder.
 */
export function registerModel(name: string, builder: ModelBuilder): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw new ModelError(
      `model name "${name}" must be lower-case letters, digits, ".", "_" or "-"`,
      { code: "bad-options" },
    );
  }
  builders.set(name, builder);
}

/** Every registered model, sorted by name. */
export function listModels(): ModelListing[] {
  return [...builders.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, b]) => ({
      name,
      role: b.role,
      description: b.description,
      defaults: { ...b.defaults },
    }));
}

/** Whether `name` is registered. */
export function hasModel(name: string): boolean {
  return builders.has(name);
}

/** The options `buildModel(name, options)` would use: defaults overlaid by `options`. */
export function resolveOptions(
  name: string,
  options: ModelOptions = {},
): ModelOptions {
  const builder = builders.get(name);
  if (!builder) {
    throw new ModelError(
      `unknown model "${name}": registered models are ${
        [...builders.keys()].sort().join(", ")
      }`,
      { code: "unknown-model" },
    );
  }
  const merged: ModelOptions = { ...builder.defaults };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** Builds the model registered as `name`, with `options` over its defaults. */
export function buildModel(
  name: string,
  options: ModelOptions = {},
): LayersModel {
  const merged = resolveOptions(name, options);
  return builders.get(name)!.build(name, merged);
}

const CIFAR: ModelOptions = {
  inputShape: [32, 32, 3],
  numClasses: 10,
  seed: 0,
};
const MNIST: ModelOptions = {
  inputShape: [28, 28, 1],
  numClasses: 10,
  seed: 0,
};

for (const [blocks, depth] of [[1, 8], [2, 14], [3, 20]] as const) {
  registerModel(`resnet${depth}`, {
    role: "teacher",
    description:
      `ResNet-${depth} (16/32/64 channels, ${blocks} basic block(s) per stage), 32x32x3`,
    defaults: { ...CIFAR, widths: [16, 32, 64], blocksPerStage: blocks },
    build: (name, o) => buildResNet(name, "convolution", o),
  });
  registerModel(`rednet${depth}`, {
    role: "teacher",
    description:
      `involution ResNet-${depth} (RedNet-style, 16/32/64, K=3, 16 channels per group), 32x32x3`,
    defaults: {
      ...CIFAR,
      widths: [16, 32, 64],
      blocksPerStage: blocks,
      involutionKernelSize: 3,
      groupChannels: 16,
      reductionRatio: 4,
    },
    build: (name, o) => buildResNet(name, "involution", o),
  });
}
registerModel("resnet8-mnist", {
  role: "teacher",
  description: "ResNet-8 (16/32/64, 1 basic block per stage) for 28x28x1",
  defaults: { ...MNIST, widths: [16, 32, 64], blocksPerStage: 1 },
  build: (name, o) => buildResNet(name, "convolution", o),
});
registerModel("rednet8-mnist", {
  role: "teacher",
  description: "involution ResNet-8 (16/32/64, K=3) for 28x28x1",
  defaults: {
    ...MNIST,
    widths: [16, 32, 64],
    blocksPerStage: 1,
    involutionKernelSize: 3,
    groupChannels: 16,
    reductionRatio: 4,
  },
  build: (name, o) => buildResNet(name, "involution", o),
});

const VIT_SIZES = [
  ["vit-tiny", "tiny CPU ViT", { dim: 64, depth: 4, numHeads: 4, mlpDim: 128 }],
  ["vit-small", "reference ViT of the speed issue", {
    dim: 128,
    depth: 6,
    numHeads: 4,
    mlpDim: 256,
  }],
  ["vit-deit-ti", "DeiT-Ti dimensions", {
    dim: 192,
    depth: 12,
    numHeads: 3,
    mlpDim: 768,
  }],
] as const;
for (const [name, what, size] of VIT_SIZES) {
  const common = {
    patchSize: 4,
    numDistillationTokens: 2,
    dropout: 0,
    dropPath: 0,
    ...size,
  };
  registerModel(name, {
    role: "student",
    description:
      `${what}: dim ${size.dim}, depth ${size.depth}, ${size.numHeads} heads, MLP ${size.mlpDim}, patch 4, 32x32x3`,
    defaults: { ...CIFAR, ...common },
    build: buildVit,
  });
  registerModel(`${name}-mnist`, {
    role: "student",
    description:
      `${what}: dim ${size.dim}, depth ${size.depth}, ${size.numHeads} heads, MLP ${size.mlpDim}, patch 4, 28x28x1`,
    defaults: { ...MNIST, ...common },
    build: buildVit,
  });
}
