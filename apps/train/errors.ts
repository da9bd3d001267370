/**
 * The error model of the apps (`deno task train`, `deno task serve`): the one
 * {@linkcode UsageError}, and the table that maps each package's typed error
 * to an exit code and a label. Both apps report a failure with
 * {@linkcode reportFailure}, so the same problem exits with the same code
 * whichever app met it.
 *
 * ```ts
 * import { DataError } from "@vitkd/data";
 * import { EXIT_CODES, exitCodeOf, UsageError } from "@vitkd/train/errors";
 *
 * if (exitCodeOf(new UsageError("--epochs: expected a number")) !== 2) {
 *   throw new Error("usage errors exit 2");
 * }
 * if (exitCodeOf(new DataError("truncated", "x.idx")) !== EXIT_CODES.data) {
 *   throw new Error("data errors exit 3");
 * }
 * ```
 *
 * @module
 */
import { BackendError } from "@vitkd/backend";
import { DataError } from "@vitkd/data";
import { DistillError } from "@vitkd/distill";
import { LogitStoreError } from "@vitkd/logit-store";
import { ModelError } from "@vitkd/models";

/**
 * A command-line mistake (an unknown flag, a bad value, flags that
 * contradict each other, a missing path): the app prints the message and a
 * pointer to `--help`, and exits with {@linkcode EXIT_CODES}`.usage` before
 * doing any work.
 */
export class UsageError extends Error {
  /**
   * Creates a usage error.
   *
   * @param message what is wrong, naming the flag and the problem
   * @param options the underlying cause, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** A problem with a run folder: missing, unreadable or of another format. */
export class RunFolderError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong, naming `run.json` or the folder
   * @param options the underlying cause, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunFolderError";
  }
}

/** The exit codes of both apps, by what went wrong. */
export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /** An unexpected error: a bug or a failure of the system; the stack is printed. */
  unexpected: 1,
  /** A {@linkcode UsageError}: nothing was done. */
  usage: 2,
  /** A `DataError`: a data set file is missing, truncated or malformed. */
  data: 3,
  /** A `LogitStoreError`: a logit store is corrupt, truncated or mismatched. */
  store: 4,
  /** A `ModelError`: a saved model cannot be loaded or a model cannot be built. */
  model: 5,
  /** A `DistillError`: a checkpoint cannot be resumed, bad training options, a diverged loss. */
  training: 6,
  /** A `BackendError`: the backend asked for cannot start here. */
  backend: 7,
  /** A {@linkcode RunFolderError}: a run folder's `run.json` is missing or unreadable. */
  runFolder: 8,
  /** Stopped by Ctrl-C (SIGINT) after writing a checkpoint. */
  interrupted: 130,
} as const;

/** One row of {@linkcode ERROR_TABLE}. */
export interface ErrorRow {
  /** The error class; subclasses match too. */
  error: abstract new (...args: never[]) => Error;
  /** The exit code. */
  code: number;
  /** What the message is about, printed before it: `"data error: ..."`. */
  label: string;
}

/**
 * The one mapping from typed errors to exit codes, first match wins. Any
 * other error is {@linkcode EXIT_CODES}`.unexpected`.
 */
export const ERROR_TABLE: readonly ErrorRow[] = [
  { error: UsageError, code: EXIT_CODES.usage, label: "usage" },
  { error: DataError, code: EXIT_CODES.data, label: "data" },
  { error: LogitStoreError, code: EXIT_CODES.store, label: "logit store" },
  { error: ModelError, code: EXIT_CODES.model, label: "model" },
  { error: DistillError, code: EXIT_CODES.training, label: "training" },
  { error: BackendError, code: EXIT_CODES.backend, label: "backend" },
  { error: RunFolderError, code: EXIT_CODES.runFolder, label: "run folder" },
];

/** The row of {@linkcode ERROR_TABLE} that `error` matches, if any. */
export function errorRowOf(error: unknown): ErrorRow | undefined {
  return ERROR_TABLE.find((row) => error instanceof row.error);
}

/** The exit code for `error`: its row's, else `unexpected` (1). */
export function exitCodeOf(error: unknown): number {
  return errorRowOf(error)?.code ?? EXIT_CODES.unexpected;
}

/** How {@linkcode reportFailure} writes. */
export interface FailureOutput {
  /** Writes one line (without its newline), e.g. to stderr. */
  log: (line: string) => void;
  /** How the app is run, for the usage hint: `"deno task train"`. */
  command: string;
  /** Put before every line, e.g. `"serve: "` (default none). */
  prefix?: string;
  /** Whether a typed error's stack is printed too (default: `VITKD_DEBUG` is set). */
  stack?: boolean;
}

function debugEnabled(): boolean {
  try {
    return Boolean(Deno.env.get("VITKD_DEBUG"));
  } catch (error) {
    // Without --allow-env the variable cannot be read: debugging is off.
    if (error instanceof Deno.errors.NotCapable) return false;
    throw error;
  }
}

/**
 * Reports `error` and returns the exit code to leave with: a typed error as
 * `<label> error: <message>` (a usage error with a pointer to `--help`),
 * anything else as `unexpected error:` with its stack.
 */
export function reportFailure(error: unknown, output: FailureOutput): number {
  const prefix = output.prefix ?? "";
  const row = errorRowOf(error);
  const log = (text: string) => {
    for (const line of text.split("\n")) output.log(prefix + line);
  };
  if (!row) {
    const text = error instanceof Error
      ? (error.stack ?? `${error.name}: ${error.message}`)
      : String(error);
    log(`unexpected error: ${text}`);
    return EXIT_CODES.unexpected;
  }
  const typed = error as Error;
  log(`${row.label} error: ${typed.message}`);
  if (row.code === EXIT_CODES.usage) {
    log(`(try: ${output.command} --help)`);
  } else if (output.stack ?? debugEnabled()) {
    log(typed.stack ?? "");
  }
  return row.code;
}

/**
 * The exit codes as `--help` lines, for the codes an app can end with
 * (default all).
 */
export function exitCodesHelp(
  codes: readonly number[] = Object.values(EXIT_CODES),
): string {
  const meanings: Record<number, string> = {
    [EXIT_CODES.ok]: "done",
    [EXIT_CODES.unexpected]: "unexpected error (printed with its stack)",
    [EXIT_CODES.interrupted]: "interrupted by Ctrl-C (checkpoint written)",
  };
  for (const row of ERROR_TABLE) {
    meanings[row.code] = row.code === EXIT_CODES.usage
      ? "usage error: nothing was done"
      : `${row.label} error (a ${row.error.name})`;
  }
  const lines = ["Exit codes:"];
  for (const code of codes) {
    lines.push(`  ${String(code).padEnd(4)} ${meanings[code]}`);
  }
  return lines.join("\n");
}
