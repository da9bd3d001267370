// `deno task train`'s command line: the subcommand, the flags (declared
// once each in cli_flags.ts, parsed by cli_values.ts's parsers), the
// cross-flag validation and the `--help` text.
import { parseArgs } from "@std/cli/parse-args";
import {
  type Command,
  COMMANDS,
  DATASETS_NEEDING_PATH,
  type InvocationOptions,
  type ParsedCommandLine,
  type TrainConfig,
} from "./config.ts";
import {
  PRESET_DESCRIPTIONS,
  PRESET_NAMES,
  presetConfig,
  type PresetName,
} from "./presets.ts";
import { type Flag, FLAGS, PIPELINE, type Target } from "./cli_flags.ts";
import { exitCodesHelp, UsageError } from "./errors.ts";

export { parseInteger, parseNumber } from "./cli_values.ts";
export { UsageError } from "./errors.ts";

const FLAG_ENTRIES = Object.entries(FLAGS);
const SWITCHES = FLAG_ENTRIES.filter(([, f]) => f.arg === undefined).map((
  [name],
) => name);
const VALUE_FLAGS = FLAG_ENTRIES.filter(([, f]) => f.arg !== undefined).map((
  [name],
) => name);
const NEGATABLE = FLAG_ENTRIES.filter(([, f]) => f.negatable).map(([name]) =>
  name
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
  const shown = FLAG_ENTRIES.filter(([, f]) =>
    !f.hidden && f.commands.includes(command)
  );
  const label = ([name, f]: [string, Flag]) =>
    f.arg === undefined
      ? (f.negatable ? `--[no-]${name}` : `--${name}`)
      : `--${name} ${f.arg}`;
  const width = Math.max(...shown.map((f) => label(f).length), 6);
  for (const entry of shown) {
    const f = entry[1];
    const help = f.default === undefined
      ? f.help
      : `${f.help} (default ${f.default})`;
    lines.push(`  ${label(entry).padEnd(width)}  ${help}`);
  }
  lines.push(`  ${"--help".padEnd(width)}  show this help`);
  lines.push("", exitCodesHelp());
  return lines.join("\n");
}

/** The preset's config and the invocation options before other flags. */
function startingPoint(command: Command, config: TrainConfig): Target {
  const target: Target = {
    config,
    options: {
      command,
      runsDir: "",
      cacheDir: "",
      resume: false,
      force: false,
      paths: [],
    } satisfies InvocationOptions,
  };
  for (const [name, flag] of FLAG_ENTRIES) {
    if (flag.default !== undefined && name !== "preset") {
      flag.apply(flag.default, name, target);
    }
  }
  return target;
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
    string: VALUE_FLAGS,
    boolean: ["help", ...SWITCHES],
    alias: { h: "help" },
    negatable: NEGATABLE,
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
  const preset = FLAGS.preset;
  const presetName = preset.parse(
    typeof parsed.preset === "string" ? parsed.preset : preset.default!,
    "preset",
  ) as PresetName;
  const target = startingPoint(command, presetConfig(presetName));
  const explicit = new Set<keyof TrainConfig>();
  // The student name resets its options, so it must come before them.
  const ordered = [...FLAG_ENTRIES].sort(([a], [b]) =>
    (a === "student" ? 0 : 1) - (b === "student" ? 0 : 1)
  );
  for (const [name, flag] of ordered) {
    const value = parsed[name];
    const isSwitch = flag.arg === undefined;
    const given = isSwitch
      ? rest.some((a) => isFlagArg(a, name))
      : value !== undefined;
    if (!given) continue;
    if (!flag.commands.includes(command)) {
      throw new UsageError(
        `--${name} does not apply to "${command}" (see deno task train ${command} --help)`,
      );
    }
    if (rest.filter((a) => isFlagArg(a, name)).length > 1) {
      throw new UsageError(`--${name} given more than once`);
    }
    if (!isSwitch && (value === "" || typeof value !== "string")) {
      throw new UsageError(`--${name}: expected a value (${flag.arg})`);
    }
    flag.apply(value as string | boolean, name, target);
    for (const key of flag.keys) explicit.add(key);
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

function isFlagArg(arg: string, name: string): boolean {
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
