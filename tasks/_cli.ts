/**
 * The command line of every task in this folder: one declaration per flag
 * gives the parser's options, the defaults and the `--help` text, so that
 * every task answers `--help` / `-h` with its usage (exit 0, before any
 * work), refuses an unknown flag with a message naming it (exit 2), and
 * reports a bad value the same way.
 *
 *   const { args, fail } = parseTaskArgs({
 *     command: "deno task bench:gpu",
 *     summary: "Training and inference img/s ... on WebGPU.",
 *     flags: {
 *       models: { arg: "LIST", default: "vit-small", help: "models" },
 *       "allow-software": { help: "run on a software adapter" },
 *     },
 *   });
 *   args.models; // string
 *   args["allow-software"]; // boolean
 *   if (!(Number(args.seconds) > 0)) fail("--seconds must be > 0");
 */
import { parseArgs } from "@std/cli/parse-args";

/** A flag that takes a value (`--name VALUE`); values stay strings. */
export interface ValueFlag {
  /** The value's placeholder in the help text, e.g. "N" or "LIST". */
  arg: string;
  /** Shown in the help text as "(default ...)" unless `help` says it. */
  default?: string;
  help: string;
}

/** A switch (`--name`; with `negatable`, `--no-name` as well). */
export interface SwitchFlag {
  arg?: undefined;
  default?: boolean;
  negatable?: boolean;
  help: string;
}

/** One flag's declaration. */
export type FlagSpec = ValueFlag | SwitchFlag;

/** A task's command line. */
export interface TaskSpec<F extends Record<string, FlagSpec>> {
  /** How the task is run, e.g. "deno task bench:gpu". */
  command: string;
  /** What the task does: the paragraph under the usage line. */
  summary: string;
  flags: F;
  /**
   * Words after the options in the usage line (e.g. "[-- SERVE FLAGS]");
   * without it, positional arguments are refused. Arguments after `--`
   * always end up in `_`.
   */
  rest?: string;
  /** Lines after the options (notes, examples). */
  epilogue?: string;
}

/** The parsed values: strings for value flags, booleans for switches. */
export type TaskArgs<F extends Record<string, FlagSpec>> =
  & {
    [K in keyof F]: F[K] extends ValueFlag
      ? F[K]["default"] extends string ? string : string | undefined
      : boolean;
  }
  & { _: string[] };

/** The task's name for messages: "bench:gpu" or "soak_serve.ts". */
function taskName(command: string): string {
  const words = command.split(" ");
  const last = words.findLast((w) => w.startsWith("tasks/")) ??
    words.at(-1) ?? command;
  return last.replace(/^tasks\//, "");
}

/** The `--help` text of a task. */
export function taskUsage<F extends Record<string, FlagSpec>>(
  spec: TaskSpec<F>,
): string {
  const rows: [string, string][] = Object.entries(spec.flags).map(
    ([name, flag]) => {
      const left = flag.arg !== undefined
        ? `--${name} ${flag.arg}`
        : flag.negatable
        ? `--[no-]${name}`
        : `--${name}`;
      const shown = flag.arg !== undefined && flag.default !== undefined &&
        !flag.help.includes("default");
      return [
        left,
        shown ? `${flag.help} (default ${flag.default})` : flag.help,
      ];
    },
  );
  rows.push(["-h, --help", "this text"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const options = rows.map(([left, help]) =>
    `  ${left.padEnd(width)}${
      help.replaceAll("\n", `\n  ${" ".repeat(width)}`)
    }`
  ).join("\n");
  const rest = spec.rest ? ` ${spec.rest}` : "";
  return [
    `${spec.command} [options]${rest}`,
    "",
    spec.summary.trim(),
    "",
    options,
    ...(spec.epilogue ? ["", spec.epilogue.trim()] : []),
    "",
  ].join("\n");
}

/**
 * Prints `message` and the usage line to stderr and exits with status 2 (a
 * usage error, as for an unknown flag).
 */
export function usageError(command: string, message: string): never {
  console.error(
    `${taskName(command)}: ${message}\n(try: ${command} --help)`,
  );
  Deno.exit(2);
}

/** What {@linkcode parseTaskArgs} returns. */
export interface ParsedTask<F extends Record<string, FlagSpec>> {
  args: TaskArgs<F>;
  /** Reports a bad value as a usage error (exit 2). */
  fail: (message: string) => never;
}

/**
 * Parses `args` (default `Deno.args`) against the task's flags: prints the
 * usage and exits 0 on `--help` / `-h`, exits 2 naming an unknown flag (or an
 * unexpected positional argument when the task declares no `rest`).
 */
export function parseTaskArgs<const F extends Record<string, FlagSpec>>(
  spec: TaskSpec<F>,
  args: string[] = Deno.args,
): ParsedTask<F> {
  const string: string[] = [];
  const boolean: string[] = ["help"];
  const negatable: string[] = [];
  const defaults: Record<string, string | boolean> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    if (flag.arg !== undefined) string.push(name);
    else {
      boolean.push(name);
      if (flag.negatable) negatable.push(name);
    }
    if (flag.default !== undefined) defaults[name] = flag.default;
  }
  let refused: string | undefined;
  const parsed = parseArgs(args, {
    string,
    boolean,
    negatable,
    alias: { h: "help" },
    default: defaults,
    unknown: (arg: string) => {
      if (!arg.startsWith("-") && spec.rest) return true;
      refused ??= arg.startsWith("-")
        ? `unknown flag ${arg.replace(/=.*/, "")}`
        : `unexpected argument ${arg}`;
      return false;
    },
  });
  if (parsed.help) {
    console.log(taskUsage(spec));
    Deno.exit(0);
  }
  if (refused) usageError(spec.command, refused);
  for (const name of string) {
    const value = parsed[name];
    if (Array.isArray(value) || (value !== undefined && value === "")) {
      usageError(
        spec.command,
        `--${name}: expected one value, got ${JSON.stringify(value)}`,
      );
    }
  }
  return {
    args: { ...parsed, _: parsed._.map(String) } as unknown as TaskArgs<F>,
    fail: (message) => usageError(spec.command, message),
  };
}
