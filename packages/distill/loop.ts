import * as tf from "@tensorflow/tfjs";
import { AdamW, type AdamWConfig, type AdamWState } from "./adamw.ts";
import { DistillError } from "./errors.ts";
import { expectedHeads, type LossConfig } from "./loss.ts";
import { constantSchedule, type LearningRateSchedule } from "./schedule.ts";
import { readTrainSteps, trainStep, type TrainStepResult } from "./step.ts";
import type { TeacherLogitSource, TrainingBatch } from "./teacher_source.ts";
import type { LayersModel } from "./tf_types.ts";

/**
 * Progress of one step, given to `onStep` right after the step is queued.
 * Losses are read from the backend every few steps (see
 * {@linkcode TrainerOptions.readEvery}), so `loss` is the newest one read.
 */
export interface StepProgress {
  /** Epoch (0-based). */
  epoch: number;
  /** Steps done in this epoch (1-based after the first step). */
  step: number;
  /** Steps in the epoch, when known. */
  steps?: number;
  /** The newest loss read, that of step `lossStep` (NaN before the first read). */
  loss: number;
  /** The step of this epoch (1-based) whose loss `loss` is; 0 before the first read. */
  lossStep: number;
  /** This step's learning rate. */
  lr: number;
  /** Images per second over this epoch so far (this session). */
  imagesPerSecond: number;
}

/** Summary of one call of {@linkcode Trainer.trainEpoch}. */
export interface EpochResult {
  /** The epoch trained (0-based). */
  epoch: number;
  /** Whether the epoch ran to its end (false when aborted). */
  completed: boolean;
  /** Mean loss per image over the epoch's steps so far (resumed steps included). */
  loss: number;
  /** Training accuracy (mean of the heads' softmax) over the epoch so far. */
  accuracy: number;
  /** Steps done in the epoch so far. */
  steps: number;
  /** Images trained on in the epoch so far. */
  images: number;
  /** Wall seconds of this call. */
  seconds: number;
  /** Seconds of this call spent obtaining teacher logits. */
  teacherSeconds: number;
  /** Images per second of this call. */
  imagesPerSecond: number;
}

/** Options of a {@linkcode Trainer}. */
export interface TrainerOptions {
  /** The model to train; its trainable weights are the optimizer's variables. */
  model: LayersModel;
  /** The objective (default: `none` without teachers, `multi` with). */
  loss?: LossConfig;
  /** AdamW hyper-parameters. */
  optimizer?: AdamWConfig;
  /** Learning rate per global step (default: the optimizer's constant rate). */
  schedule?: LearningRateSchedule;
  /** Clip gradients to this global norm (default: no clipping). */
  clipNorm?: number;
  /** Teacher logits for distillation; absent for plain training. */
  teachers?: TeacherLogitSource;
  /** Seed of the run, kept in the state (views and shuffles derive from it). */
  seed?: number;
  /**
   * Steps between two reads of the losses from the backend (default 16).
   * Each read waits for the GPU (10 ms or more on WebGPU in Deno), so a loop
   * that reads every step is bound by reads; the results are the same for
   * any value. The epoch's end, an abort and `getState` read too.
   */
  readEvery?: number;
}

/** One model weight in a {@linkcode TrainerState}. */
export interface WeightState {
  /** The variable's name. */
  name: string;
  /** The variable's shape. */
  shape: number[];
  /** Its values. */
  data: Float32Array;
}

/** Everything a resumed run needs to continue bit for bit. */
export interface TrainerState {
  /** The run's seed; with (epoch, step) it fixes shuffles and views. */
  seed: number;
  /** The epoch in progress or next to run. */
  epoch: number;
  /** Steps of `epoch` already done. */
  stepInEpoch: number;
  /** Steps done over the whole run (the schedule's position). */
  globalStep: number;
  /** Running sums of the epoch in progress. */
  epochTotals: { lossSum: number; correct: number; images: number };
  /** The optimizer's step count and moments. */
  optimizer: AdamWState;
  /** Every model weight (trainable or not, e.g. batch-norm statistics). */
  weights: WeightState[];
}

/** Options of {@linkcode Trainer.trainEpoch}. */
export interface TrainEpochOptions {
  /** Steps in the epoch, for progress reports. */
  steps?: number;
  /** Checked between steps; once aborted the epoch stops with `completed: false`. */
  signal?: AbortSignal;
  /** Called after each step. */
  onStep?: (progress: StepProgress) => void;
  /** Called with each step's loss once it has been read, in step order. */
  onLoss?: (step: number, loss: number) => void;
}

/** A step queued on the backend whose scalars are not read yet. */
interface PendingStep {
  epoch: number;
  step: number;
  rows: number;
  result: TrainStepResult;
}

function assertWholeNumber(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 0)) {
    throw new DistillError(
      `${name} must be a non-negative integer, got ${value}`,
      { code: "mismatch" },
    );
  }
}

/**
 * Trains a model batch by batch and keeps the position (epoch, step), the
 * optimizer and the running totals, so that it can stop between any two steps
 * and resume from {@linkcode Trainer.getState} with the same result.
 *
 * Teachers use it with `loss: {kind: "none"}`; the student with a
 * {@linkcode TeacherLogitSource}.
 */
export class Trainer {
  /** The model being trained. */
  readonly model: LayersModel;
  /** The optimizer over the model's trainable weights. */
  readonly optimizer: AdamW;
  /** The objective. */
  readonly loss: LossConfig;
  /** Where teacher logits come from, if distilling. */
  readonly teachers?: TeacherLogitSource;
  /** The learning rate per global step. */
  readonly schedule: LearningRateSchedule;
  /** Gradient clipping norm, if any. */
  readonly clipNorm?: number;
  /** The run's seed. */
  readonly seed: number;
  /** Steps between two reads of the losses. */
  readonly readEvery: number;
  #usesTeachers: boolean;
  #pending: PendingStep[] = [];
  #lastLoss = { step: 0, loss: NaN };
  #epoch = 0;
  #stepInEpoch = 0;
  #globalStep = 0;
  #totals = { lossSum: 0, correct: 0, images: 0 };

  /** Creates a trainer at epoch 0, step 0. */
  constructor(options: TrainerOptions) {
    this.model = options.model;
    this.teachers = options.teachers;
    this.loss = options.loss ??
      { kind: options.teachers ? "multi" : "none" };
    const kind = this.loss.kind ?? "multi";
    this.#usesTeachers = kind !== "none";
    if (this.#usesTeachers) {
      if (!options.teachers) {
        throw new DistillError(
          `Trainer: loss "${kind}" needs a teacher logit source`,
          { code: "bad-options" },
        );
      }
      const wanted = expectedHeads(kind, options.teachers.teacherCount);
      if (this.model.outputs.length !== wanted) {
        throw new DistillError(
          `Trainer: loss "${kind}" with ${options.teachers.teacherCount} teacher(s) expects ${wanted} model heads (class head + ${
            wanted - 1
          } distillation), the model "${this.model.name}" has ${this.model.outputs.length}`,
          { code: "bad-options" },
        );
      }
    }
    const variables = this.model.trainableWeights.map((w) => w.read());
    if (variables.length === 0) {
      throw new DistillError("Trainer: the model has no trainable weights", {
        code: "bad-options",
      });
    }
    this.optimizer = new AdamW(variables as tf.Variable[], options.optimizer);
    this.schedule = options.schedule ??
      constantSchedule(this.optimizer.learningRate);
    this.clipNorm = options.clipNorm;
    this.seed = options.seed ?? 0;
    this.readEvery = options.readEvery ?? 16;
    if (!(Number.isInteger(this.readEvery) && this.readEvery >= 1)) {
      throw new DistillError(
        `Trainer: readEvery must be a whole number >= 1, got ${options.readEvery}`,
        { code: "bad-options" },
      );
    }
  }

  /** The epoch in progress or next to run. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Steps of the current epoch already done. */
  get stepInEpoch(): number {
    return this.#stepInEpoch;
  }

  /** Steps done over the whole run. */
  get globalStep(): number {
    return this.#globalStep;
  }

  /**
   * Trains on `batches`, the batches of epoch {@linkcode Trainer.epoch} in
   * order. After a resume mid-epoch the first {@linkcode Trainer.stepInEpoch}
   * batches are skipped, since they were trained on already. The trainer takes
   * ownership of each batch's tensors and disposes them.
   */
  async trainEpoch(
    batches: Iterable<TrainingBatch> | AsyncIterable<TrainingBatch>,
    options: TrainEpochOptions = {},
  ): Promise<EpochResult> {
    const epoch = this.#epoch;
    const started = performance.now();
    let teacherMs = 0;
    let images = 0;
    let seen = 0;
    let completed = true;
    this.#lastLoss = { step: 0, loss: NaN };
    try {
      for await (const batch of batches) {
        try {
          if (seen++ < this.#stepInEpoch) continue;
          if (options.signal?.aborted) {
            completed = false;
            break;
          }
          const lr = this.schedule(this.#globalStep);
          const t0 = performance.now();
          const teacherLogits = this.teachers && this.#usesTeachers
            ? await this.teachers.logitsFor(batch)
            : [];
          teacherMs += performance.now() - t0;
          let result;
          try {
            result = trainStep(
              this.model,
              this.optimizer,
              batch.x,
              batch.y,
              teacherLogits,
              { loss: this.loss, learningRate: lr, clipNorm: this.clipNorm },
            );
          } finally {
            tf.dispose(teacherLogits);
          }
          const rows = batch.x.shape[0];
          images += rows;
          this.#stepInEpoch += 1;
          this.#globalStep += 1;
          this.#pending.push({ epoch, step: this.#stepInEpoch, rows, result });
          if (this.#pending.length >= this.readEvery) {
            await this.#readPending(options.onLoss);
          }
          options.onStep?.({
            epoch,
            step: this.#stepInEpoch,
            steps: options.steps,
            loss: this.#lastLoss.loss,
            lossStep: this.#lastLoss.step,
            lr,
            imagesPerSecond: images / ((performance.now() - started) / 1000),
          });
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
      }
    } finally {
      await this.#readPending(options.onLoss);
    }
    if (seen < this.#stepInEpoch) {
      throw new DistillError(
        `Trainer.trainEpoch: epoch ${epoch} has ${seen} batches but the state says ${this.#stepInEpoch} were done; the data differ from the checkpoint's`,
        { code: "mismatch" },
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const totals = { ...this.#totals };
    const steps = this.#stepInEpoch;
    if (completed) {
      this.#epoch += 1;
      this.#stepInEpoch = 0;
      this.#totals = { lossSum: 0, correct: 0, images: 0 };
    }
    return {
      epoch,
      completed,
      loss: totals.images > 0 ? totals.lossSum / totals.images : NaN,
      accuracy: totals.images > 0 ? totals.correct / totals.images : NaN,
      steps,
      images: totals.images,
      seconds,
      teacherSeconds: teacherMs / 1000,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
    };
  }

  /**
   * Reads every queued step's scalars in one read, adds them to the epoch's
   * totals, and throws on the first non-finite loss.
   */
  async #readPending(onLoss?: (step: number, loss: number) => void) {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const readings = await readTrainSteps(pending.map((p) => p.result));
    pending.forEach(({ epoch, step, rows }, i) => {
      const { loss, correct } = readings[i];
      if (!Number.isFinite(loss)) {
        throw new DistillError(
          `Trainer: the loss is ${loss} at epoch ${
            epoch + 1
          } step ${step}; lower the learning rate or check the inputs`,
          { code: "diverged" },
        );
      }
      this.#totals.lossSum += loss * rows;
      this.#totals.correct += correct;
      this.#totals.images += rows;
      this.#lastLoss = { step, loss };
      onLoss?.(step, loss);
    });
  }

  /**
   * Copies out the weights, optimizer, position and totals, reading them
   * from the backend asynchronously.
   *
   * @returns A state {@linkcode Trainer.setState} restores bit for bit.
   */
  async getState(): Promise<TrainerState> {
    await this.#readPending();
    const weights = await Promise.all(
      this.model.weights.map(async (w) => ({
        name: w.originalName ?? w.name,
        shape: [...w.shape] as number[],
        data: Float32Array.from(await w.read().data() as Float32Array),
      })),
    );
    return {
      seed: this.seed,
      epoch: this.#epoch,
      stepInEpoch: this.#stepInEpoch,
      globalStep: this.#globalStep,
      epochTotals: { ...this.#totals },
      optimizer: await this.optimizer.getState(),
      weights,
    };
  }

  /**
   * Restores a state from {@linkcode Trainer.getState} into this trainer,
   * whose model must have the same architecture (weights are matched by
   * position and checked by shape).
   */
  setState(state: TrainerState): void {
    if (state.seed !== this.seed) {
      throw new DistillError(
        `Trainer.setState: the checkpoint was taken with seed ${state.seed}, this run uses seed ${this.seed}`,
        { code: "mismatch" },
      );
    }
    assertWholeNumber("Trainer.setState: epoch", state.epoch);
    assertWholeNumber("Trainer.setState: stepInEpoch", state.stepInEpoch);
    assertWholeNumber("Trainer.setState: globalStep", state.globalStep);
    const weights = this.model.weights;
    if (state.weights.length !== weights.length) {
      throw new DistillError(
        `Trainer.setState: the checkpoint holds ${state.weights.length} weights, the model has ${weights.length}`,
        { code: "mismatch" },
      );
    }
    weights.forEach((w, i) => {
      const saved = state.weights[i];
      if (
        !tf.util.arraysEqual(saved.shape, w.shape as number[]) ||
        saved.data.length !== tf.util.sizeFromShape(w.shape as number[])
      ) {
        throw new DistillError(
          `Trainer.setState: weight ${i} ("${saved.name}") has shape [${saved.shape}] in the checkpoint, [${w.shape}] ("${w.name}") in the model`,
          { code: "mismatch" },
        );
      }
    });
    for (const { result } of this.#pending) {
      tf.dispose([result.loss, result.correct, result.gradientNorm]);
    }
    this.#pending = [];
    this.optimizer.setState(state.optimizer);
    weights.forEach((w, i) => {
      const saved = state.weights[i];
      tf.tidy(() => {
        w.write(tf.tensor(saved.data, saved.shape, "float32"));
      });
    });
    this.#epoch = state.epoch;
    this.#stepInEpoch = state.stepInEpoch;
    this.#globalStep = state.globalStep;
    this.#totals = { ...state.epochTotals };
  }

  /** Frees the optimizer's state and any unread step scalars (not the model). */
  dispose(): void {
    for (const { result } of this.#pending) {
      tf.dispose([result.loss, result.correct, result.gradientNorm]);
    }
    this.#pending = [];
    this.optimizer.dispose();
  }
}
