import type { InvocationOptions, StageName, TrainConfig } from "./config.ts";
import { UsageError } from "./errors.ts";
import type { Interrupt } from "./interrupt.ts";
import type { MetricsLog } from "./metrics_log.ts";
import type { ProgressSink } from "./progress.ts";
import { loadRunData, type RunData } from "./run_data.ts";
import { type RunPaths, type RunState, saveRunState } from "./run_folder.ts";
import type { StepBudget } from "./training.ts";

/**
 * A stage cannot run yet: an earlier stage's output is missing. A usage
 * error (exit 2): the message names the command to run first.
 */
export class StageOrderError extends UsageError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StageOrderError";
  }
}

/** What every stage of one invocation shares. */
export class RunContext {
  /** What the run computes. */
  readonly config: TrainConfig;
  /** This invocation's options. */
  readonly options: InvocationOptions;
  /** The run folder's paths. */
  readonly paths: RunPaths;
  /** The run's state, saved to `run.json` by {@linkcode RunContext.save}. */
  readonly state: RunState;
  /** The metrics log. */
  readonly metrics: MetricsLog;
  /** Ctrl-C and `--stop-after-steps`. */
  readonly interrupt: Interrupt;
  /** Steps left before `--stop-after-steps` stops the run. */
  readonly budget: StepBudget;
  /** Where progress bars draw. */
  readonly sink?: ProgressSink;
  /** Prints a status line (stderr). */
  readonly log: (message: string) => void;
  #data?: Promise<RunData>;

  /** Creates the context. */
  constructor(init: {
    options: InvocationOptions;
    paths: RunPaths;
    state: RunState;
    metrics: MetricsLog;
    interrupt: Interrupt;
    sink?: ProgressSink;
    log: (message: string) => void;
  }) {
    this.config = init.state.config;
    this.options = init.options;
    this.paths = init.paths;
    this.state = init.state;
    this.metrics = init.metrics;
    this.interrupt = init.interrupt;
    this.sink = init.sink;
    this.log = init.log;
    this.budget = { remaining: init.options.stopAfterSteps ?? Infinity };
  }

  /** The run's data, loaded once per invocation. */
  data(): Promise<RunData> {
    this.#data ??= loadRunData(this.config, this.options.cacheDir, this.sink)
      .then((data) => {
        this.state.data = {
          train: data.train.count,
          test: data.test.count,
          fingerprint: data.train.fingerprint,
          testFingerprint: data.test.fingerprint,
          classNames: data.train.classNames,
        };
        return data;
      });
    return this.#data;
  }

  /** Writes `run.json`. */
  async save(): Promise<void> {
    await saveRunState(this.paths.root, this.state);
  }

  /** Throws a {@linkcode StageOrderError} unless `stage` is done (or skipped). */
  requireDone(stage: StageName, command: string): void {
    const status = this.state.stages[stage].status;
    if (status !== "done" && status !== "skipped") {
      throw new StageOrderError(
        `run ${this.state.name}: stage "${stage}" is ${status}; run \`deno task train ${stage} --name ${this.state.name}\` before ${command}`,
      );
    }
  }
}
