import {
  BACKEND_CHOICES,
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import { UsageError } from "./cli.ts";
import { EXIT_CODES } from "./errors.ts";
import {
  type Command,
  type ParsedCommandLine,
  type StageName,
  STAGES,
  type TrainConfig,
} from "./config.ts";
import { RunContext } from "./context.ts";
import {
  installInterrupt,
  type Interrupt,
  InterruptedError,
} from "./interrupt.ts";
import { MetricsLog } from "./metrics_log.ts";
import type { ProgressSink } from "./progress.ts";
import { formatReportText } from "./report.ts";
import {
  defaultRunName,
  exists,
  latestUnfinishedRun,
  loadRunState,
  newRunState,
  runPaths,
  type RunState,
  saveRunState,
} from "./run_folder.ts";
import { distillStage } from "./stage_distill.ts";
import { evalStage, writeCurves, writeReport } from "./stage_eval.ts";
import { precomputeStage } from "./stage_precompute.ts";
import { teachersStage } from "./stage_teachers.ts";
import { join, resolve } from "node:path";

/** How the pipeline talks to the user. */
export interface PipelineIo {
  /** Status lines (stderr). */
  log: (message: string) => void;
  /** The report (stdout). */
  out: (text: string) => void;
  /** Where progress bars draw (stderr by default). */
  sink?: ProgressSink;
  /** Ctrl-C handling; `installInterrupt()` by default. */
  interrupt?: Interrupt;
}

const STAGE_FUNCTIONS: Record<StageName, (ctx: RunContext) => Promise<void>> = {
  teachers: teachersStage,
  precompute: precomputeStage,
  distill: distillStage,
  eval: evalStage,
};

/** What each stage needs done before it. */
const PREREQUISITE: Partial<Record<StageName, StageName>> = {
  precompute: "teachers",
  distill: "precompute",
  eval: "distill",
};

function stagesOf(command: Command): StageName[] {
  return command === "run" ? [...STAGES] : [command as StageName];
}

/** Config fields that differ between a stored run and this command line. */
export function configDifferences(
  stored: TrainConfig,
  parsed: ParsedCommandLine,
): string[] {
  // The same folder named relatively or absolutely is the same data set.
  const comparable = (config: TrainConfig, key: keyof TrainConfig) => {
    const value = config[key];
    if (key === "dataset" && config.dataset.path !== undefined) {
      return JSON.stringify({
        ...config.dataset,
        path: resolve(config.dataset.path),
      });
    }
    return JSON.stringify(value);
  };
  return parsed.explicit
    .filter((key) => key !== "backend")
    .filter((key) => comparable(stored, key) !== comparable(parsed.config, key))
    .map((key) =>
      `${key}: run.json has ${JSON.stringify(stored[key])}, the command line ${
        JSON.stringify(parsed.config[key])
      }`
    );
}

/** The backend name (`wasm`, `cpu`, `webgpu`) a `describeBackend` line starts with. */
function backendName(described: string): string {
  return described.split(/[ ,(]/)[0];
}

/**
 * The backend a continued run uses: the one it ran on, because another one
 * computes other last bits and the resumed weights would differ from an
 * uninterrupted run's. `--backend auto` or no flag means the run's own; a
 * named other backend is refused, naming the run's.
 *
 * @throws {UsageError} when `--backend` names another backend than the run's
 */
export function resumeBackend(
  state: Pick<RunState, "name" | "backend" | "config">,
  parsed: ParsedCommandLine,
): BackendChoice {
  const recorded = state.backend ? backendName(state.backend) : undefined;
  const ran = (BACKEND_CHOICES as readonly string[]).includes(recorded ?? "")
    ? recorded as BackendChoice
    : state.config.backend;
  const asked = parsed.explicit.includes("backend")
    ? parsed.config.backend
    : "auto";
  if (asked !== "auto" && ran !== "auto" && asked !== ran) {
    throw new UsageError(
      `run ${state.name} ran on the ${ran} backend; continuing it on ${asked} would end with other weights than an uninterrupted run. Drop --backend (the run's backend is used), or start a new run with --name`,
    );
  }
  return asked === "auto" ? ran : asked;
}

/** Finds or creates the run folder this invocation works on. */
async function openRun(
  parsed: ParsedCommandLine,
): Promise<{ root: string; state: RunState; created: boolean }> {
  const { options } = parsed;
  let name = options.name;
  if (options.resume && name === undefined) {
    name = await latestUnfinishedRun(options.runsDir);
    if (name === undefined) {
      throw new UsageError(
        `--resume: no unfinished run in ${options.runsDir}/; name one with --name`,
      );
    }
  }
  const isStage = options.command !== "run";
  name ??= defaultRunName(parsed.config.preset);
  const root = join(options.runsDir, name);
  const present = await exists(join(root, "run.json"));
  if (!present) {
    if (options.resume) {
      throw new UsageError(`--resume: ${root} is not a run folder`);
    }
    if (await exists(root)) {
      if (!options.force) {
        throw new UsageError(
          `${root} exists but is not a run folder; choose another --name or pass --force`,
        );
      }
      await Deno.remove(root, { recursive: true });
    }
    await Deno.mkdir(root, { recursive: true });
    return { root, state: newRunState(name, parsed.config), created: true };
  }
  if (options.command === "run" && !options.resume) {
    if (!options.force) {
      throw new UsageError(
        `run ${root} exists: pass --resume to continue it or --force to start it over`,
      );
    }
    await Deno.remove(root, { recursive: true });
    await Deno.mkdir(root, { recursive: true });
    return { root, state: newRunState(name, parsed.config), created: true };
  }
  const state = await loadRunState(root);
  const differences = configDifferences(state.config, parsed);
  if (differences.length > 0) {
    throw new UsageError(
      `run ${root} was made with other settings:\n  ${
        differences.join("\n  ")
      }\ndrop those flags, or use a new --name`,
    );
  }
  state.config.backend = resumeBackend(state, parsed);
  if (isStage) {
    const stage = options.command as StageName;
    const needed = PREREQUISITE[stage];
    const status = needed ? state.stages[needed].status : "done";
    if (needed && status !== "done" && status !== "skipped") {
      throw new UsageError(
        `run ${name}: stage "${needed}" is ${status}; run \`deno task train ${needed} --name ${name}\` first`,
      );
    }
  }
  return { root, state, created: false };
}

/** Empties a stage's results so that `--force` on a stage command redoes it and what follows. */
async function resetFrom(ctx: RunContext, stage: StageName): Promise<void> {
  const order = STAGES.indexOf(stage);
  for (const later of STAGES.slice(order)) {
    ctx.state.stages[later] = { status: "pending", seconds: 0 };
  }
  ctx.state.complete = false;
  delete ctx.state.finishedAt;
  const results = ctx.state.results;
  const remove = (path: string) =>
    Deno.remove(path, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  if (order <= STAGES.indexOf("teachers")) {
    results.teachers = [];
    await remove(ctx.paths.teachers);
  }
  if (order <= STAGES.indexOf("precompute")) await remove(ctx.paths.store);
  if (order <= STAGES.indexOf("distill")) {
    delete results.student;
    delete results.baseline;
    await remove(ctx.paths.student);
    await remove(ctx.paths.baseline);
  }
  await remove(ctx.paths.checkpoints);
}

/**
 * Runs the stages a pipeline command asks for on its run folder and
 * returns the exit code: 0 done, 130 interrupted (checkpoint written).
 * Usage problems throw {@linkcode UsageError} before any work starts.
 */
export async function runPipeline(
  parsed: ParsedCommandLine,
  io: PipelineIo,
): Promise<number> {
  const { root, state, created } = await openRun(parsed);
  const paths = runPaths(root);
  const command = parsed.options.command;
  if (!created && command === "run" && state.complete) {
    io.log(`run ${state.name} is already complete`);
    io.out(formatReportText(state) + "\n");
    return 0;
  }
  // For what may fail without failing the run (the run's state is saved as
  // each stage ends; leftovers only take space), and must not replace the
  // error being reported: said, not swallowed.
  const warn = (error: unknown) =>
    io.log(`warning: ${error instanceof Error ? error.message : error}`);
  const interrupt = io.interrupt ?? installInterrupt(io.log);
  const metrics = MetricsLog.open(paths.metrics);
  const ctx = new RunContext({
    options: parsed.options,
    paths,
    state,
    metrics,
    interrupt,
    sink: io.sink,
    log: io.log,
  });
  try {
    const backend = await initBackend({ backend: state.config.backend });
    const described = describeBackend(backend);
    const withoutReason = (d: string) => d.slice(0, d.lastIndexOf(" ("));
    if (
      !created && state.backend &&
      withoutReason(state.backend) !== withoutReason(described)
    ) {
      io.log(
        `warning: this run started on "${state.backend}"; continuing on another backend or thread count changes the last bits of the results`,
      );
    }
    state.backend = described;
    io.log(`run ${state.name} in ${root} (backend ${state.backend})`);
    metrics.write({
      event: "start",
      command,
      resume: !created,
      backend: state.backend,
      deno: Deno.version.deno,
    });
    if (state.config.loss === "none") {
      for (const stage of ["teachers", "precompute"] as const) {
        state.stages[stage].status = "skipped";
      }
    }
    if (command !== "run" && parsed.options.force && !created) {
      await resetFrom(ctx, command as StageName);
    }
    await ctx.save();
    for (const stage of stagesOf(command)) {
      const record = state.stages[stage];
      if (record.status === "done" || record.status === "skipped") {
        if (command === "run") {
          io.log(`stage ${stage}: ${record.status}, skipped`);
        } else {io.log(
            `stage ${stage} is already ${record.status}; pass --force to redo it`,
          );}
        continue;
      }
      record.status = "running";
      record.startedAt ??= new Date().toISOString();
      await ctx.save();
      const started = performance.now();
      try {
        await STAGE_FUNCTIONS[stage](ctx);
        const sharded = stage === "precompute" && parsed.options.shard;
        record.status = sharded ? "pending" : "done";
        if (!sharded) record.finishedAt = new Date().toISOString();
      } catch (error) {
        record.status = error instanceof InterruptedError
          ? "interrupted"
          : "pending";
        throw error;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        record.seconds += seconds;
        metrics.write({
          event: "stage",
          stage,
          status: record.status,
          seconds,
        });
        await ctx.save();
      }
    }
    if (
      STAGES.every((s) => ["done", "skipped"].includes(state.stages[s].status))
    ) {
      state.complete = true;
      state.finishedAt = new Date().toISOString();
      await ctx.save();
      await Deno.remove(paths.checkpoints, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) warn(e);
      });
      await writeReport(ctx);
      metrics.write({ event: "complete" });
      io.out(formatReportText(state) + "\n");
      io.log(`report: ${paths.report}, curves: ${paths.curves}`);
    } else if (command === "eval" || state.stages.distill.status === "done") {
      await writeReport(ctx);
    }
    return 0;
  } catch (error) {
    if (error instanceof InterruptedError) {
      await writeCurves(ctx).catch(warn);
      await writeReport(ctx).catch(warn);
      io.log(
        `stopped (${error.message}); checkpoint saved. Continue with: deno task train ${
          command === "run" ? "" : command + " "
        }--resume --name ${state.name}`,
      );
      return EXIT_CODES.interrupted;
    }
    throw error;
  } finally {
    metrics.close();
    if (!io.interrupt) interrupt.dispose();
    await saveRunState(root, state).catch(warn);
  }
}
