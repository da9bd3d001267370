// The flags of `deno task train`, one declaration each: its value's
// placeholder (none for a switch), help line, default, validation (`parse`)
// and where the value goes (`to`). cli.ts builds the parser's options, the
// parsing and the `--help` text from this table alone; a new flag is one
// more entry here.
import { BACKEND_CHOICES } from "@vitkd/backend";
import { DATASET_KINDS, type DatasetKind } from "@vitkd/data";
import { LOSS_KINDS } from "@vitkd/distill";
import {
  type Command,
  COMMANDS,
  type InvocationOptions,
  STORE_ENCODINGS,
  type TrainConfig,
} from "./config.ts";
import { isPresetName, PRESET_NAMES } from "./presets.ts";
import {
  list,
  number,
  oneOf,
  perClass,
  type ValueParser,
  whole,
} from "./cli_values.ts";
import { UsageError } from "./errors.ts";

/** The commands that run pipeline stages. */
export const PIPELINE: readonly Command[] = [
  "run",
  "teachers",
  "precompute",
  "distill",
  "eval",
];
const TRAINING: readonly Command[] = ["run", "teachers", "distill"];

/** What the flags write into: the run's config and the invocation options. */
export interface Target {
  config: TrainConfig;
  options: InvocationOptions;
}

/** One flag's declaration, with its value parsed to `T`. */
export interface FlagDecl<T> {
  /** The value's placeholder in the help text; absent for a switch. */
  arg?: string;
  /** The help line. */
  help: string;
  /** Shown as "(default ...)"; an invocation option takes it when absent. */
  default?: string;
  /** The commands it applies to (default: the pipeline's). */
  commands?: readonly Command[];
  /** Left out of the help text (test hooks). */
  hidden?: boolean;
  /** A switch that also takes `--no-NAME`. */
  negatable?: boolean;
  /** Checks and converts the text (default: the text as given). */
  parse?: ValueParser<T>;
}

/** A declaration with its value type erased, as the table holds it. */
export interface Flag {
  arg?: string;
  help: string;
  default?: string;
  commands: readonly Command[];
  hidden: boolean;
  negatable: boolean;
  /** The config keys it sets (to detect changes against a stored run). */
  keys: (keyof TrainConfig)[];
  /** Checks and converts a value's text (`flag` is the name). */
  parse: ValueParser<unknown>;
  /** Parses the value (`flag` is the name) and writes it into `target`. */
  apply(value: string | boolean, flag: string, target: Target): void;
}

function declare<T>(
  decl: FlagDecl<T>,
  keys: (keyof TrainConfig)[],
  set: (value: T, target: Target) => void,
): Flag {
  const parse = decl.parse ?? ((text: string) => text as T);
  return {
    arg: decl.arg,
    help: decl.help,
    default: decl.default,
    commands: decl.commands ?? PIPELINE,
    hidden: decl.hidden ?? false,
    negatable: decl.negatable ?? false,
    keys,
    parse,
    apply(value, flag, target) {
      set(
        decl.arg === undefined
          ? Boolean(value) as T
          : parse(String(value), flag),
        target,
      );
    },
  };
}

/** A flag that sets the config key `key` (compared with a stored run's). */
function config<K extends keyof TrainConfig>(
  key: K,
  decl: FlagDecl<TrainConfig[K]>,
): Flag {
  return declare(decl, [key], (value, t) => {
    t.config[key] = value;
  });
}

/** A flag that sets one of the student builder's options. */
function student(key: string, decl: FlagDecl<number>): Flag {
  return declare(decl, ["student"], (value, t) => {
    t.config.student.options[key] = value;
  });
}

/** A flag that sets the invocation option `key`. */
function option<K extends keyof InvocationOptions>(
  key: K,
  decl: FlagDecl<InvocationOptions[K]>,
): Flag {
  return declare(decl, [], (value, t) => {
    t.options[key] = value;
  });
}

/** A flag that does more than set one value; `keys`: the config keys it sets. */
function custom<T>(
  decl: FlagDecl<T> & {
    keys?: (keyof TrainConfig)[];
    to: (value: T, target: Target) => void;
  },
): Flag {
  return declare(decl, decl.keys ?? [], decl.to);
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The flags, in help order. `preset` is resolved before all others. */
export const FLAGS: Record<string, Flag> = {
  preset: custom({
    arg: "NAME",
    help: `starting values: ${PRESET_NAMES.join(", ")}`,
    default: "quick",
    parse: (name, flag) => {
      if (!isPresetName(name)) {
        throw new UsageError(
          `--${flag}: unknown preset "${name}"; expected one of ${
            PRESET_NAMES.join(", ")
          }`,
        );
      }
      return name;
    },
    to: () => {}, // resolved before the other flags
  }),
  dataset: custom({
    arg: "KIND",
    help: `data set: ${DATASET_KINDS.join(", ")}`,
    parse: oneOf(DATASET_KINDS),
    to: (kind: DatasetKind, t) => {
      t.config.dataset.kind = kind;
      // A preset's path belongs to the preset's data set; --data-path follows.
      delete t.config.dataset.path;
    },
    keys: ["dataset"],
  }),
  "data-path": custom({
    arg: "PATH",
    help: "where the data set lives (folder or file, per --dataset)",
    to: (path: string, t) => {
      t.config.dataset.path = path;
    },
    keys: ["dataset"],
  }),
  "per-class": config("perClass", {
    arg: "N|all",
    help: "training images per class (seeded subset)",
    parse: perClass,
  }),
  "test-per-class": config("testPerClass", {
    arg: "N|all",
    help: "test images per class used to evaluate",
    parse: perClass,
  }),
  teachers: config("teachers", {
    arg: "KINDS",
    help: "teacher kinds in token order, e.g. resnet8,rednet8",
    parse: list,
  }),
  "teacher-epochs": config("teacherEpochs", {
    arg: "N",
    help: "epochs per teacher",
    parse: whole(1),
  }),
  "teacher-batch-size": config("teacherBatchSize", {
    arg: "N",
    help: "teacher batch size",
    parse: whole(1),
  }),
  "teacher-lr": config("teacherLearningRate", {
    arg: "X",
    help: "teacher peak learning rate",
    parse: number(0, 10, { above: true }),
  }),
  student: custom({
    arg: "NAME",
    help: "student config registered in @vitkd/models",
    // Resets the student's options: it is applied before the flags below.
    to: (name: string, t) => {
      t.config.student = { name, options: {} };
    },
    keys: ["student"],
  }),
  patch: student("patchSize", {
    arg: "N",
    help: "student patch size",
    parse: whole(1),
  }),
  dim: student("dim", {
    arg: "N",
    help: "student embedding width",
    parse: whole(1),
  }),
  depth: student("depth", {
    arg: "N",
    help: "student transformer blocks",
    parse: whole(1),
  }),
  heads: student("numHeads", {
    arg: "N",
    help: "student attention heads",
    parse: whole(1),
  }),
  "mlp-dim": student("mlpDim", {
    arg: "N",
    help: "student MLP hidden width",
    parse: whole(1),
  }),
  dropout: student("dropout", {
    arg: "N",
    help: "student dropout rate",
    parse: number(0, 0.99),
  }),
  "drop-path": student("dropPath", {
    arg: "N",
    help: "student stochastic depth",
    parse: number(0, 0.99),
  }),
  loss: config("loss", {
    arg: "VARIANT",
    help:
      "multi (a token per teacher), ensemble (one token, mean of teachers), hard, none (no teachers)",
    parse: oneOf(LOSS_KINDS),
  }),
  tau: config("tau", {
    arg: "X",
    help: "distillation temperature",
    parse: number(0, 100, { above: true }),
  }),
  weights: config("weights", {
    arg: "L0,L1,..",
    help: "loss weights: class head, then one per distillation term",
    parse: (text, flag) => list(text, flag).map((w) => number(0)(w, flag)),
  }),
  views: config("views", {
    arg: "V",
    help: "augmented views stored per training image",
    parse: whole(1, 1024),
  }),
  augment: config("augment", {
    help: "augment training views (--no-augment: the plain images)",
    negatable: true,
  }),
  encoding: config("encoding", {
    arg: "ENC",
    help: `logit store encoding: ${STORE_ENCODINGS.join(", ")}`,
    parse: oneOf(STORE_ENCODINGS),
  }),
  "top-k": config("topK", {
    arg: "K",
    help: "k of the topk encoding",
    parse: whole(1),
  }),
  epochs: config("epochs", {
    arg: "N",
    help: "student epochs",
    parse: whole(1),
  }),
  "batch-size": config("batchSize", {
    arg: "N",
    help: "student batch size",
    parse: whole(1),
  }),
  lr: config("learningRate", {
    arg: "X",
    help: "student peak learning rate",
    parse: number(0, 10, { above: true }),
  }),
  "weight-decay": config("weightDecay", {
    arg: "X",
    help: "AdamW weight decay",
    parse: number(0, 10),
  }),
  warmup: config("warmupEpochs", {
    arg: "EPOCHS",
    help: "linear warmup epochs before cosine decay",
    parse: number(0),
  }),
  "label-smoothing": config("labelSmoothing", {
    arg: "X",
    help: "label smoothing of the cross-entropy terms",
    parse: number(0, 0.99),
  }),
  baseline: config("baseline", {
    help: "also train the student without teachers (--no-baseline: skip)",
    negatable: true,
  }),
  seed: config("seed", {
    arg: "N",
    help: "seed of every random choice",
    parse: whole(0, 2 ** 32 - 1),
  }),
  backend: config("backend", {
    arg: "NAME",
    help: `tfjs backend: ${BACKEND_CHOICES.join(", ")}`,
    commands: COMMANDS,
    parse: oneOf(BACKEND_CHOICES),
  }),
  name: option("name", {
    arg: "NAME",
    help: "run name: the folder under --runs-dir (default <preset>-<time>)",
    commands: COMMANDS,
    parse: (name, flag) => {
      if (!NAME_PATTERN.test(name)) {
        throw new UsageError(
          `--${flag}: "${name}" is not a usable folder name (letters, digits, ".", "_", "-")`,
        );
      }
      return name;
    },
  }),
  "runs-dir": option("runsDir", {
    arg: "DIR",
    help: "folder of run folders",
    default: "runs",
    commands: COMMANDS,
  }),
  "cache-dir": option("cacheDir", {
    arg: "DIR",
    help: "decoded-data cache",
    default: ".cache/data",
    commands: COMMANDS,
  }),
  resume: option("resume", {
    help: "continue the named (or latest unfinished) run from its checkpoint",
  }),
  force: option("force", {
    help: "replace an existing run folder of the same name",
  }),
  shard: option("shard", {
    arg: "I/N",
    help: "precompute only shard I of N (0-based); join with merge",
    commands: ["precompute"],
    parse: (text, flag) => {
      const m = /^(\d+)\/(\d+)$/.exec(text);
      if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
        throw new UsageError(
          `--${flag}: expected I/N with 0 <= I < N, got "${text}"`,
        );
      }
      return { index: Number(m[1]), count: Number(m[2]) };
    },
  }),
  out: option("out", {
    arg: "PATH",
    help: "the merged store to write",
    commands: ["merge"],
  }),
  "stop-after-steps": option("stopAfterSteps", {
    arg: "N",
    help: "test hook: act as if Ctrl-C came after N training steps",
    commands: TRAINING,
    hidden: true,
    parse: whole(1),
  }),
};
