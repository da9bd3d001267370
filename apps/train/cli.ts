import { parseArgs } from "@std/cli/parse-args";
import { BACKEND_CHOICES, type BackendChoice } from "@vitkd/backend";
import {
  type Command,
  COMMANDS,
  DATASET_KINDS,
  type DatasetKind,
  DATASETS_NEEDING_PATH,
  type InvocationOptions,
  LOSS_VARIANTS,
  type LossVariant,
  type ParsedCommandLine,
  STORE_ENCODINGS,
  type StoreEncoding,
  type TrainConfig,
} from "./config.ts";
import {
  isPresetName,
  PRESET_DESCRIPTIONS,
  PRESET_NAMES,
  presetConfig,
} from "./presets.ts";

/** A command-line mistake: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  /** The exit code for usage errors. */
  readonly exitCode = 2;
  /** Creates a usage error with a message that names the flag and the problem. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const PIPELINE: readonly Command[] = [
  "run",
  "teachers",
  "precompute",
  "distill",
  "eval",
];
const TRAINING: readonly Command[] = ["run", "teachers", "distill"];
const ALL: readonly Command[] = COMMANDS;

interface Target {
  config: TrainConfig;
  options: InvocationOptions;
}

interface FlagSpec {
  name: string;
  /** Placeholder of the value; absent for a boolean flag. */
  arg?: string;
  help: string;
  commands: readonly Command[];
  hidden?: boolean;
  /** Config keys this flag sets (to detect changes against a stored run). */
  keys?: (keyof TrainConfig)[];
  apply(value: string | boolean, target: Target): void;
}

function str(value: string | boolean): string {
  return String(value);
}

/** Parses a whole number in [min, max] or throws a UsageError naming the flag. */
export function parseInteger(
  flag: string,
  value: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const text = value.trim();
  if (!/^[+-]?\d+$/.test(text)) {
    throw new UsageError(
      `--${flag}: expected a whole number, got "${value}"`,
    );
  }
  const n = Number(text);
  if (n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER
      ? `>= ${min}`
      : `between ${min} and ${max}`;
    throw new UsageError(`--${flag}: expected a number ${range}, got ${n}`);
  }
  return n;
}

/** Parses a finite number in [min, max] (or (min, max] when `exclusiveMin`). */
export function parseNumber(
  flag: string,
  value: string,
  min: number,
  max = Infinity,
  exclusiveMin = false,
): number {
  const text = value.trim();
  const n = text === "" ? NaN : Number(text);
  if (!Number.isFinite(n)) {
    throw new UsageError(`--${flag}: expected a number, got "${value}"`);
  }
  if ((exclusiveMin ? n <= min : n < min) || n > max) {
    const low = exclusiveMin ? `> ${min}` : `>= ${min}`;
    const range = max === Infinity ? low : `${low} and <= ${max}`;
    throw new UsageError(`--${flag}: expected a number ${range}, got ${n}`);
  }
  return n;
}

function parseChoice<T extends string>(
  flag: string,
  value: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(
      `--${flag}: unknown value "${value}"; expected one of ${
        choices.join(", ")
      }`,
    );
  }
  return value as T;
}

function parsePerClass(flag: string, value: string): number | null {
  return value === "all" ? null : parseInteger(flag, value, 1);
}

function parseList(flag: string, value: string): string[] {
  const items = value.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) {
    throw new UsageError(
      `--${flag}: expected a comma-separated list without empty items, got "${value}"`,
    );
  }
  return items;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function studentOption(
  name: string,
  key: string,
  help: string,
  parse: (flag: string, v: string) => number,
): FlagSpec {
  return {
    name,
    arg: "N",
    help,
    commands: PIPELINE,
    keys: ["student"],
    apply: (v, t) => {
      t.config.student.options[key] = parse(name, str(v));
    },
  };
}

const int1 = (flag: string, v: string) => parseInteger(flag, v, 1);
const rate01 = (flag: string, v: string) => parseNumber(flag, v, 0, 0.99);

/** The flags, in help order. `preset` is handled before all others. */
const FLAGS: FlagSpec[] = [
  {
    name: "preset",
    arg: "NAME",
    help: `starting values: ${PRESET_NAMES.join(", ")} (default quick)`,
    commands: PIPELINE,
    apply: () => {},
  },
  {
    name: "dataset",
    arg: "KIND",
    help: `data set: ${DATASET_KINDS.join(", ")}`,
    commands: PIPELINE,
    keys: ["dataset"],
    apply: (v, t) => {
      t.config.dataset.kind = parseChoice<DatasetKind>(
        "dataset",
        str(v),
        DATASET_KINDS,
      );
      // A preset's path belongs to the preset's data set; --data-path follows.
      delete t.config.dataset.path;
    },
  },
  {
    name: "data-path",
    arg: "PATH",
    help: "where the data set lives (folder or file, per --dataset)",
    commands: PIPELINE,
    keys: ["dataset"],
    apply: (v, t) => {
      t.config.dataset.path = str(v);
    },
  },
  {
    name: "per-class",
    arg: "N|all",
    help: "training images per class (seeded subset)",
    commands: PIPELINE,
    keys: ["perClass"],
    apply: (v, t) => {
      t.config.perClass = parsePerClass("per-class", str(v));
    },
  },
  {
    name: "test-per-class",
    arg: "N|all",
    help: "test images per class used to evaluate",
    commands: PIPELINE,
    keys: ["testPerClass"],
    apply: (v, t) => {
      t.config.testPerClass = parsePerClass("test-per-class", str(v));
    },
  },
  {
    name: "teachers",
    arg: "KINDS",
    help: "teacher kinds in token order, e.g. resnet8,rednet8",
    commands: PIPELINE,
    keys: ["teachers"],
    apply: (v, t) => {
      t.config.teachers = parseList("teachers", str(v));
    },
  },
  {
    name: "teacher-epochs",
    arg: "N",
    help: "epochs per teacher",
    commands: PIPELINE,
    keys: ["teacherEpochs"],
    apply: (v, t) => {
      t.config.teacherEpochs = parseInteger("teacher-epochs", str(v), 1);
    },
  },
  {
    name: "teacher-batch-size",
    arg: "N",
    help: "teacher batch size",
    commands: PIPELINE,
    keys: ["teacherBatchSize"],
    apply: (v, t) => {
      t.config.teacherBatchSize = parseInteger(
        "teacher-batch-size",
        str(v),
        1,
      );
    },
  },
  {
    name: "teacher-lr",
    arg: "X",
    help: "teacher peak learning rate",
    commands: PIPELINE,
    keys: ["teacherLearningRate"],
    apply: (v, t) => {
      t.config.teacherLearningRate = parseNumber(
        "teacher-lr",
        str(v),
        0,
        10,
        true,
      );
    },
  },
  {
    name: "student",
    arg: "NAME",
    help: "student config registered in @vitkd/models",
    commands: PIPELINE,
    keys: ["student"],
    apply: (v, t) => {
      t.config.student = { name: str(v), options: {} };
    },
  },
  studentOption("patch", "patchSize", "student patch size", int1),
  studentOption("dim", "dim", "student embedding width", int1),
  studentOption("depth", "depth", "student transformer blocks", int1),
  studentOption("heads", "numHeads", "student attention heads", int1),
  studentOption("mlp-dim", "mlpDim", "student MLP hidden width", int1),
  studentOption("dropout", "dropout", "student dropout rate", rate01),
  studentOption("drop-path", "dropPath", "student stochastic depth", rate01),
  {
    name: "loss",
    arg: "VARIANT",
    help:
      "multi (a token per teacher), ensemble (one token, mean of teachers), hard, none (no teachers)",
    commands: PIPELINE,
    keys: ["loss"],
    apply: (v, t) => {
      t.config.loss = parseChoice<LossVariant>("loss", str(v), LOSS_VARIANTS);
    },
  },
  {
    name: "tau",
    arg: "X",
    help: "distillation temperature",
    commands: PIPELINE,
    keys: ["tau"],
    apply: (v, t) => {
      t.config.tau = parseNumber("tau", str(v), 0, 100, true);
    },
  },
  {
    name: "weights",
    arg: "L0,L1,..",
    help: "loss weights: class head, then one per distillation term",
    commands: PIPELINE,
    keys: ["weights"],
    apply: (v, t) => {
      t.config.weights = parseList("weights", str(v)).map((w) =>
        parseNumber("weights", w, 0)
      );
    },
  },
  {
    name: "views",
    arg: "V",
    help: "augmented views stored per training image",
    commands: PIPELINE,
    keys: ["views"],
    apply: (v, t) => {
      t.config.views = parseInteger("views", str(v), 1, 1024);
    },
  },
  {
    name: "augment",
    help: "augment training views (--no-augment: the plain images)",
    commands: PIPELINE,
    keys: ["augment"],
    apply: (v, t) => {
      t.config.augment = Boolean(v);
    },
  },
  {
    name: "encoding",
    arg: "ENC",
    help: `logit store encoding: ${STORE_ENCODINGS.join(", ")}`,
    commands: PIPELINE,
    keys: ["encoding"],
    apply: (v, t) => {
      t.config.encoding = parseChoice<StoreEncoding>(
        "encoding",
        str(v),
        STORE_ENCODINGS,
      );
    },
  },
  {
    name: "top-k",
    arg: "K",
    help: "k of the topk encoding",
    commands: PIPELINE,
    keys: ["topK"],
    apply: (v, t) => {
      t.config.topK = parseInteger("top-k", str(v), 1);
    },
  },
  {
    name: "epochs",
    arg: "N",
    help: "student epochs",
    commands: PIPELINE,
    keys: ["epochs"],
    apply: (v, t) => {
      t.config.epochs = parseInteger("epochs", str(v), 1);
    },
  },
  {
    name: "batch-size",
    arg: "N",
    help: "student batch size",
    commands: PIPELINE,
    keys: ["batchSize"],
    apply: (v, t) => {
      t.config.batchSize = parseInteger("batch-size", str(v), 1);
    },
  },
  {
    name: "lr",
    arg: "X",
    help: "student peak learning rate",
    commands: PIPELINE,
    keys: ["learningRate"],
    apply: (v, t) => {
      t.config.learningRate = parseNumber("lr", str(v), 0, 10, true);
    },
  },
  {
    name: "weight-decay",
    arg: "X",
    help: "AdamW weight decay",
    commands: PIPELINE,
    keys: ["weightDecay"],
    apply: (v, t) => {
      t.config.weightDecay = parseNumber("weight-decay", str(v), 0, 10);
    },
  },
  {
    name: "warmup",
    arg: "EPOCHS",
    help: "linear warmup epochs before cosine decay",
    commands: PIPELINE,
    keys: ["warmupEpochs"],
    apply: (v, t) => {
      t.config.warmupEpochs = parseNumber("warmup", str(v), 0);
    },
  },
  {
    name: "label-smoothing",
    arg: "X",
    help: "label smoothing of the cross-entropy terms",
    commands: PIPELINE,
    keys: ["labelSmoothing"],
    apply: (v, t) => {
      t.config.labelSmoothing = parseNumber("label-smoothing", str(v), 0, 0.99);
    },
  },
  {
    name: "baseline",
    help: "also train the student without teachers (--no-baseline: skip)",
    commands: PIPELINE,
    keys: ["baseline"],
    apply: (v, t) => {
      t.config.baseline = Boolean(v);
    },
  },
  {
    name: "seed",
    arg: "N",
    help: "seed of every random choice",
    commands: PIPELINE,
    keys: ["seed"],
    apply: (v, t) => {
      t.config.seed = parseInteger("seed", str(v), 0, 2 ** 32 - 1);
    },
  },
  {
    name: "backend",
    arg: "NAME",
    help: `tfjs backend: ${BACKEND_CHOICES.join(", ")}`,
    commands: ALL,
    keys: ["backend"],
    apply: (v, t) => {
      t.config.backend = parseChoice<BackendChoice>(
        "backend",
        str(v),
        BACKEND_CHOICES,
      );
    },
  },
  {
    name: "name",
    arg: "NAME",
    help: "run name: the folder under --runs-dir (default <preset>-<time>)",
    commands: ALL,
    apply: (v, t) => {
      const name = str(v);
      if (!NAME_PATTERN.test(name)) {
        throw new UsageError(
          `--name: "${name}" is not a usable folder name (letters, digits, ".", "_", "-")`,
        );
      }
      t.options.name = name;
    },
  },
  {
    name: "runs-dir",
    arg: "DIR",
    help: "folder of run folders (default runs)",
    commands: ALL,
    apply: (v, t) => {
      t.options.runsDir = str(v);
    },
  },
  {
    name: "cache-dir",
    arg: "DIR",
    help: "decoded-data cache (default .cache/data)",
    commands: ALL,
    apply: (v, t) => {
      t.options.cacheDir = str(v);
    },
  },
  {
    name: "resume",
    help: "continue the named (or latest unfinished) run from its checkpoint",
    commands: PIPELINE,
    apply: (v, t) => {
      t.options.resume = Boolean(v);
    },
  },
  {
    name: "force",
    help: "replace an existing run folder of the same name",
    commands: PIPELINE,
    apply: (v, t) => {
      t.options.force = Boolean(v);
    },
  },
  {
    name: "shard",
    arg: "I/N",
    help: "precompute only shard I of N (0-based); join with merge",
    commands: ["precompute"],
    apply: (v, t) => {
      const m = /^(\d+)\/(\d+)$/.exec(str(v));
      if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
        throw new UsageError(
          `--shard: expected I/N with 0 <= I < N, got "${str(v)}"`,
        );
      }
      t.options.shard = { index: Number(m[1]), count: Number(m[2]) };
    },
  },
  {
    name: "out",
    arg: "PATH",
    help: "the merged store to write",
    commands: ["merge"],
    apply: (v, t) => {
      t.options.out = str(v);
    },
  },
  {
    name: "stop-after-steps",
    arg: "N",
    help: "test hook: act as if Ctrl-C came after N training steps",
    commands: TRAINING,
    hidden: true,
    apply: (v, t) => {
      t.options.stopAfterSteps = parseInteger("stop-after-steps", str(v), 1);
    },
  },
];

const BOOLEAN_FLAGS = FLAGS.filter((f) => f.arg === undefined).map((f) =>
  f.name
);
const STRING_FLAGS = FLAGS.filter((f) => f.arg !== undefined).map((f) =>
  f.name
);

const COMMAND_SUMMARY: Record<Command, string> = {
  run: "all stages: teachers, precompute, distill, eval (the default)",
  teachers: "train the teachers and save them in the run folder",
  precompute: "run the teachers over the training views and store the logits",
  distill: "train the student from the stored logits (and the baseline)",
  eval: "evaluate teachers and students; write report.md and curves.svg",
  verify: "check every checksum of a logit store",
  inspect: "print a logit store's header and statistics",
  merge: "join precompute shards into one store",
};

const COMMAND_USAGE: Record<Command, string> = {
  run: "deno task train [run] [flags]",
  teachers: "deno task train teachers [flags]",
  precompute: "deno task train precompute [flags]",
  distill: "deno task train distill [flags]",
  eval: "deno task train eval [flags]",
  verify: "deno task train verify [STORE | --name RUN]",
  inspect: "deno task train inspect [STORE | --name RUN]",
  merge: "deno task train merge --out STORE SHARD...",
};

/** The `--help` text of a subcommand. */
export function helpText(command: Command): string {
  const lines = [
    `Usage: ${COMMAND_USAGE[command]}`,
    "",
    COMMAND_SUMMARY[command].replace(/^./, (c) => c.toUpperCase()) + ".",
    "",
  ];
  if (command === "run") {
    lines.push("Commands:");
    for (const c of COMMANDS) {
      lines.push(`  ${c.padEnd(11)} ${COMMAND_SUMMARY[c]}`);
    }
    lines.push("", "Presets:");
    for (const p of PRESET_NAMES) {
      lines.push(`  ${p.padEnd(16)} ${PRESET_DESCRIPTIONS[p]}`);
    }
    lines.push("");
  }
  lines.push("Flags:");
  const shown = FLAGS.filter((f) => !f.hidden && f.commands.includes(command));
  const label = (f: FlagSpec) =>
    f.arg === undefined
      ? (f.name === "resume" || f.name === "force"
        ? `--${f.name}`
        : `--[no-]${f.name}`)
      : `--${f.name} ${f.arg}`;
  const width = Math.max(...shown.map((f) => label(f).length), 6);
  for (const f of shown) lines.push(`  ${label(f).padEnd(width)}  ${f.help}`);
  lines.push(`  ${"--help".padEnd(width)}  show this help`);
  return lines.join("\n");
}

/** The default invocation options before flags. */
function defaultOptions(command: Command): InvocationOptions {
  return {
    command,
    runsDir: "runs",
    cacheDir: ".cache/data",
    resume: false,
    force: false,
    paths: [],
  };
}

/**
 * Parses and validates a command line. Throws a {@linkcode UsageError}
 * naming the flag and the problem for unknown flags, bad values or
 * contradictions; does not touch the file system (see
 * {@linkcode checkPaths}).
 */
export function parseCommandLine(args: string[]): ParsedCommandLine {
  let command: Command = "run";
  let rest = args;
  if (rest.length > 0 && !rest[0].startsWith("-")) {
    const first = rest[0];
    if (!(COMMANDS as readonly string[]).includes(first)) {
      throw new UsageError(
        `unknown command "${first}"; expected one of ${COMMANDS.join(", ")}`,
      );
    }
    command = first as Command;
    rest = rest.slice(1);
  }
  const unknown: string[] = [];
  const parsed = parseArgs(rest, {
    string: STRING_FLAGS,
    boolean: ["help", ...BOOLEAN_FLAGS],
    alias: { h: "help" },
    negatable: ["augment", "baseline"],
    unknown: (arg: string) => {
      if (arg.startsWith("-")) {
        unknown.push(arg.split("=")[0]);
        return false;
      }
      return true;
    },
  }) as Record<string, unknown> & { _: (string | number)[] };
  const help = parsed.help === true;
  const negative = unknown.find((a) => /^-\d/.test(a));
  if (negative !== undefined) {
    throw new UsageError(
      `"${negative}" reads as a flag; write a negative value as --flag=${negative}`,
    );
  }
  if (unknown.length > 0) {
    const hint = help ? "" : ` (see deno task train ${command} --help)`;
    throw new UsageError(
      `unknown flag${unknown.length > 1 ? "s" : ""} ${
        unknown.join(", ")
      } for "${command}"${hint}`,
    );
  }
  const presetName = typeof parsed.preset === "string"
    ? parsed.preset
    : "quick";
  if (!isPresetName(presetName)) {
    throw new UsageError(
      `--preset: unknown preset "${presetName}"; expected one of ${
        PRESET_NAMES.join(", ")
      }`,
    );
  }
  const target: Target = {
    config: presetConfig(presetName),
    options: defaultOptions(command),
  };
  const explicit = new Set<keyof TrainConfig>();
  // The student name resets its options, so it must come before them.
  const ordered = [...FLAGS].sort((a, b) =>
    (a.name === "student" ? 0 : 1) - (b.name === "student" ? 0 : 1)
  );
  for (const flag of ordered) {
    const value = parsed[flag.name];
    const isBool = flag.arg === undefined;
    const given = isBool
      ? rest.some((a) => isBooleanArg(a, flag.name))
      : value !== undefined;
    if (!given) continue;
    if (!flag.commands.includes(command)) {
      throw new UsageError(
        `--${flag.name} does not apply to "${command}" (see deno task train ${command} --help)`,
      );
    }
    if (rest.filter((a) => isBooleanArg(a, flag.name)).length > 1) {
      throw new UsageError(`--${flag.name} given more than once`);
    }
    if (!isBool && (value === "" || typeof value !== "string")) {
      throw new UsageError(`--${flag.name}: expected a value (${flag.arg})`);
    }
    flag.apply(value as string | boolean, target);
    for (const key of flag.keys ?? []) explicit.add(key);
  }
  const positionals = parsed._.map(String);
  if (["verify", "inspect", "merge"].includes(command)) {
    target.options.paths = positionals;
  } else if (positionals.length > 0) {
    throw new UsageError(
      `unexpected argument "${positionals[0]}" for "${command}"`,
    );
  }
  if (!help) validate(target, explicit);
  return {
    config: target.config,
    options: target.options,
    explicit: [...explicit],
    help,
    helpText: helpText(command),
  };
}

function isBooleanArg(arg: string, name: string): boolean {
  return arg === `--${name}` || arg === `--no-${name}` ||
    arg.startsWith(`--${name}=`);
}

/** The number of distillation tokens (student heads after the class head). */
export function distillationTokenCount(config: TrainConfig): number {
  if (config.loss === "none") return 0;
  if (config.loss === "ensemble") return 1;
  return config.teachers.length;
}

function validate(target: Target, explicit: Set<keyof TrainConfig>): void {
  const { config, options } = target;
  if (config.loss === "none") {
    if (explicit.has("teachers")) {
      throw new UsageError(
        "--loss none trains the student without teachers; drop --teachers",
      );
    }
    config.teachers = [];
    config.baseline = false;
  } else if (config.teachers.length === 0) {
    throw new UsageError(`--loss ${config.loss} needs at least one teacher`);
  }
  const names = config.teachers;
  if (config.weights !== null) {
    const expected = 1 + distillationTokenCount(config);
    if (config.weights.length !== expected) {
      throw new UsageError(
        `--weights: expected ${expected} values (the class head${
          expected > 1 ? ` + ${expected - 1} distillation term(s)` : ""
        } for --loss ${config.loss} with ${names.length} teacher(s)), got ${config.weights.length}`,
      );
    }
  }
  if (
    DATASETS_NEEDING_PATH.includes(config.dataset.kind) && !config.dataset.path
  ) {
    throw new UsageError(
      `--dataset ${config.dataset.kind} needs --data-path`,
    );
  }
  if (!config.augment && config.views > 1) {
    throw new UsageError(
      `--views ${config.views} without augmentation would store identical views; use --views 1 with --no-augment`,
    );
  }
  if (options.resume && options.force) {
    throw new UsageError("--resume and --force contradict each other");
  }
  if (options.command === "merge") {
    if (!options.out) throw new UsageError("merge needs --out STORE");
    if (options.paths.length < 1) {
      throw new UsageError("merge needs the shard stores to join");
    }
  }
  if (
    (options.command === "verify" || options.command === "inspect") &&
    options.paths.length === 0 && options.name === undefined
  ) {
    throw new UsageError(
      `${options.command} needs a store path or --name RUN`,
    );
  }
}

/**
 * Checks that every path the command line names exists, so that a typo
 * fails before any work starts.
 */
export async function checkPaths(parsed: ParsedCommandLine): Promise<void> {
  const { config, options } = parsed;
  const mustExist: [string, string][] = [];
  if (
    PIPELINE.includes(options.command) && config.dataset.path !== undefined
  ) {
    mustExist.push(["--data-path", config.dataset.path]);
  }
  for (const p of options.paths) mustExist.push(["store", p]);
  for (const [what, path] of mustExist) {
    try {
      await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(`${what}: ${path} does not exist`);
      }
      throw new UsageError(
        `${what}: cannot read ${path}: ${(error as Error).message}`,
      );
    }
  }
}

/** A registered model name and whether it is a teacher or a student. */
export interface RegisteredModel {
  /** The registry name. */
  name: string;
  /** Teacher (one output) or student (1 + T outputs). */
  role: "teacher" | "student";
}

/**
 * Checks the model names against those registered in `@vitkd/models`, so
 * `--teachers resnt8` fails before any work starts.
 */
export function checkModelNames(
  config: TrainConfig,
  registered: readonly RegisteredModel[],
): void {
  const teachers = registered.filter((m) => m.role === "teacher").map((m) =>
    m.name
  );
  const students = registered.filter((m) => m.role === "student").map((m) =>
    m.name
  );
  for (const teacher of config.teachers) {
    if (!teachers.includes(teacher)) {
      throw new UsageError(
        `--teachers: unknown teacher "${teacher}"; registered teachers: ${
          teachers.join(", ")
        }`,
      );
    }
  }
  if (!students.includes(config.student.name)) {
    throw new UsageError(
      `--student: unknown student "${config.student.name}"; registered students: ${
        students.join(", ")
      }`,
    );
  }
}
