import { join } from "node:path";
import { type StageName, STAGES, type TrainConfig } from "./config.ts";
import { RunFolderError } from "./errors.ts";

/** Where a stage stands. */
export type StageStatus =
  | "pending"
  | "running"
  | "interrupted"
  | "done"
  | "skipped";

/** A stage's status and timing in `run.json`. */
export interface StageRecord {
  /** Where the stage stands. */
  status: StageStatus;
  /** Seconds spent in it, summed over resumed invocations. */
  seconds: number;
  /** When it first started. */
  startedAt?: string;
  /** When it finished. */
  finishedAt?: string;
}

/** One evaluated model's figures in `run.json` and the report. */
export interface ModelResult {
  /** The model's name in the run, e.g. `resnet8` or `student`. */
  name: string;
  /** Its registered architecture. */
  architecture: string;
  /** Trainable parameters. */
  parameters: number;
  /** Test accuracy in [0, 1] (the averaged heads for a student). */
  accuracy: number;
  /** A student's accuracy per head: the class head first, then the distillation heads. */
  headAccuracies?: number[];
  /** The heads' names, in the same order. */
  headNames?: string[];
  /** Seconds spent training it. */
  trainSeconds?: number;
  /**
   * Per-image test outcomes of the saved model (1 = right), packed by
   * `encodeOutcomes` of `@vitkd/distill`: what the report's paired test
   * (McNemar) of the student against the baseline needs.
   */
  testCorrect?: string;
}

/** The content of `run.json`. */
export interface RunState {
  /** File format marker. */
  format: "vitkd-run";
  /** Format version. */
  version: 1;
  /** The run's name (its folder). */
  name: string;
  /** When the run was created. */
  createdAt: string;
  /** When `run.json` was last written. */
  updatedAt: string;
  /** When the last stage finished; set with `complete`. */
  finishedAt?: string;
  /** Every stage done. */
  complete: boolean;
  /** What the run computes. */
  config: TrainConfig;
  /** The backend of the last invocation. */
  backend?: string;
  /** Facts about the data the run used. */
  data?: {
    train: number;
    test: number;
    fingerprint: string;
    testFingerprint: string;
    classNames: string[];
  };
  /** Stage status and timings. */
  stages: Record<StageName, StageRecord>;
  /** Evaluated models. */
  results: {
    teachers: ModelResult[];
    student?: ModelResult;
    baseline?: ModelResult;
  };
}

/** The paths inside a run folder (docs/architecture.md). */
export interface RunPaths {
  /** The run folder. */
  root: string;
  /** `run.json`: config, stage status, results. */
  runJson: string;
  /** `metrics.jsonl`: one JSON object per line. */
  metrics: string;
  /** `report.md`. */
  report: string;
  /** `curves.svg`. */
  curves: string;
  /** `teachers/`: one saved model folder per teacher. */
  teachers: string;
  /** `logits.vkl`: the logit store. */
  store: string;
  /** `student/`: the saved student. */
  student: string;
  /** `baseline/`: the student trained without teachers. */
  baseline: string;
  /** `checkpoints/`: resumable training state. */
  checkpoints: string;
  /** The saved model folder of one teacher. */
  teacher(name: string): string;
  /** The checkpoint folder of one training job, e.g. `teacher-resnet8`. */
  checkpoint(job: string): string;
}

/** The layout of the run folder at `root`. */
export function runPaths(root: string): RunPaths {
  return {
    root,
    runJson: join(root, "run.json"),
    metrics: join(root, "metrics.jsonl"),
    report: join(root, "report.md"),
    curves: join(root, "curves.svg"),
    teachers: join(root, "teachers"),
    store: join(root, "logits.vkl"),
    student: join(root, "student"),
    baseline: join(root, "baseline"),
    checkpoints: join(root, "checkpoints"),
    teacher: (name) => join(root, "teachers", name),
    checkpoint: (job) => join(root, "checkpoints", job),
  };
}

// Defined with the apps' other errors, whose table maps it to an exit code.
export { RunFolderError };

/** A default run name from the preset and the time: `quick-20260128-051455`. */
export function defaultRunName(
  preset: string,
  date: Date = new Date(),
): string {
  const iso = date.toISOString();
  const stamp = iso.slice(0, 10).replaceAll("-", "") + "-" +
    iso.slice(11, 19).replaceAll(":", "");
  return `${preset}-${stamp}`;
}

/** A fresh state with every stage pending. */
export function newRunState(name: string, config: TrainConfig): RunState {
  const now = new Date().toISOString();
  const stages = {} as Record<StageName, StageRecord>;
  for (const stage of STAGES) stages[stage] = { status: "pending", seconds: 0 };
  return {
    format: "vitkd-run",
    version: 1,
    name,
    createdAt: now,
    updatedAt: now,
    complete: false,
    config,
    stages,
    results: { teachers: [] },
  };
}

/** Writes text atomically: a temporary file beside the target, then a rename. */
export async function writeTextAtomic(
  path: string,
  text: string,
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Saves `run.json` atomically, stamping `updatedAt`. */
export async function saveRunState(
  root: string,
  state: RunState,
): Promise<void> {
  state.updatedAt = new Date().toISOString();
  await writeTextAtomic(
    runPaths(root).runJson,
    JSON.stringify(state, null, 2) + "\n",
  );
}

/** Reads and checks `run.json` of the run folder at `root`. */
export async function loadRunState(root: string): Promise<RunState> {
  const path = runPaths(root).runJson;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RunFolderError(
        `${root} is not a run folder: ${path} is missing`,
      );
    }
    throw new RunFolderError(
      `cannot read ${path}: ${(error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RunFolderError(
      `${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  const state = value as Partial<RunState>;
  if (state?.format !== "vitkd-run") {
    throw new RunFolderError(
      `${path}: format is ${
        JSON.stringify(state?.format)
      }, expected "vitkd-run"`,
    );
  }
  if (state.version !== 1) {
    throw new RunFolderError(
      `${path}: version ${state.version} is not supported (expected 1)`,
    );
  }
  if (!state.config || !state.stages || !state.results) {
    throw new RunFolderError(
      `${path}: missing ${
        ["config", "stages", "results"].filter((k) =>
          !(state as Record<string, unknown>)[k]
        ).join(", ")
      }`,
    );
  }
  for (const stage of STAGES) {
    state.stages[stage] ??= { status: "pending", seconds: 0 };
  }
  return state as RunState;
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The most recently updated unfinished run under `runsDir`, if any. */
export async function latestUnfinishedRun(
  runsDir: string,
): Promise<string | undefined> {
  let best: { name: string; updated: string } | undefined;
  try {
    for await (const entry of Deno.readDir(runsDir)) {
      if (!entry.isDirectory) continue;
      try {
        const state = await loadRunState(join(runsDir, entry.name));
        if (!state.complete && (!best || state.updatedAt > best.updated)) {
          best = { name: entry.name, updated: state.updatedAt };
        }
      } catch (error) {
        // Not a run folder (or not one this build reads): skip it.
        if (!(error instanceof RunFolderError)) throw error;
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return best?.name;
}
