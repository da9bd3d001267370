import type { BackendChoice } from "@vitkd/backend";
import type { DatasetKind } from "@vitkd/data";
import type { LossKind } from "@vitkd/distill";

/** The subcommands of `deno task train`. */
export type Command =
  | "run"
  | "teachers"
  | "precompute"
  | "distill"
  | "eval"
  | "verify"
  | "inspect"
  | "merge";

/** Every subcommand name, `run` (the default) first. */
export const COMMANDS: readonly Command[] = [
  "run",
  "teachers",
  "precompute",
  "distill",
  "eval",
  "verify",
  "inspect",
  "merge",
];

/** The training stages, in pipeline order. */
export type StageName = "teachers" | "precompute" | "distill" | "eval";

/** Every stage, in the order `run` executes them. */
export const STAGES: readonly StageName[] = [
  "teachers",
  "precompute",
  "distill",
  "eval",
];

/** Data set kinds that need `--data-path`. */
export const DATASETS_NEEDING_PATH: readonly DatasetKind[] = [
  "image-folder",
  "cifar-binary",
  "idx",
];

/** How the logit store encodes logits. */
export type StoreEncoding = "fp16" | "fp32" | "topk";

/** Every encoding `--encoding` accepts. */
export const STORE_ENCODINGS: readonly StoreEncoding[] = [
  "fp16",
  "fp32",
  "topk",
];

/** A model to build: a registered name plus option overrides. */
export interface ModelChoice {
  /** A name registered in `@vitkd/models`. */
  name: string;
  /** Options passed to the builder on top of the input shape, classes and seed. */
  options: Record<string, number>;
}

/**
 * Everything that decides what a run computes. It is stored in `run.json`
 * and a resumed run must use the same values.
 */
export interface TrainConfig {
  /** The preset the values started from. */
  preset: string;
  /** Which data set to load and from where. */
  dataset: { kind: DatasetKind; path?: string };
  /** Training images per class (a seeded subset); `null` keeps them all. */
  perClass: number | null;
  /** Test images per class used for evaluation; `null` keeps them all. */
  testPerClass: number | null;
  /** Teacher model kinds, in distillation-token order. */
  teachers: string[];
  /** Epochs each teacher trains. */
  teacherEpochs: number;
  /** Teacher batch size. */
  teacherBatchSize: number;
  /** Teacher peak learning rate. */
  teacherLearningRate: number;
  /** The student architecture. */
  student: ModelChoice;
  /** Student epochs. */
  epochs: number;
  /** Student batch size. */
  batchSize: number;
  /** Student peak learning rate. */
  learningRate: number;
  /** AdamW decoupled weight decay (student and teachers). */
  weightDecay: number;
  /** Linear warmup length in epochs before the cosine decay. */
  warmupEpochs: number;
  /** Label smoothing of the cross-entropy terms. */
  labelSmoothing: number;
  /** The distillation objective. */
  loss: LossKind;
  /** Distillation temperature. */
  tau: number;
  /** Loss weights: l0 for the class head, then one per distillation term; `null` = all 1. */
  weights: number[] | null;
  /** Augmented views stored per training image. */
  views: number;
  /** Whether training views are augmented (crop/flip of the data set's default spec). */
  augment: boolean;
  /** Logit store encoding. */
  encoding: StoreEncoding;
  /** k of the top-k encoding. */
  topK: number;
  /** Whether to also train the same student without teachers, for comparison. */
  baseline: boolean;
  /** The seed of every random choice of the run. */
  seed: number;
  /** The tfjs backend. */
  backend: BackendChoice;
}

/** Options that steer one invocation without changing what a run computes. */
export interface InvocationOptions {
  /** The subcommand. */
  command: Command;
  /** The run's name (its folder under `runsDir`); generated when not given. */
  name?: string;
  /** The folder holding run folders. */
  runsDir: string;
  /** The decoded-data cache folder. */
  cacheDir: string;
  /** Continue the named (or the latest unfinished) run. */
  resume: boolean;
  /** Replace an existing run folder of the same name. */
  force: boolean;
  /** Test hook: behave as if Ctrl-C came after this many training steps. */
  stopAfterSteps?: number;
  /** `precompute`: write one shard `{index, count}` of the store. */
  shard?: { index: number; count: number };
  /** `verify` / `inspect` / `merge`: store paths given on the command line. */
  paths: string[];
  /** `merge`: the output store path. */
  out?: string;
}

/** A parsed command line: the resolved config and the invocation options. */
export interface ParsedCommandLine {
  /** The config after the preset and the flags. */
  config: TrainConfig;
  /** What this invocation does. */
  options: InvocationOptions;
  /** The config keys the command line set explicitly (to compare with a stored run). */
  explicit: (keyof TrainConfig)[];
  /** `--help` was asked for: print `helpText` and exit 0. */
  help: boolean;
  /** The help text for the chosen subcommand. */
  helpText: string;
}
