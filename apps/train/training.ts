import * as tf from "@tensorflow/tfjs";
import {
  type AugmentSpec,
  countBatches,
  type ImageDataset,
  type Normalization,
} from "@vitkd/data";
import {
  cosineSchedule,
  evaluate,
  type EvaluationResult,
  hasCheckpoint,
  loadCheckpoint,
  type LossConfig,
  saveCheckpoint,
  type TeacherLogitSource,
  Trainer,
  trainingBatches,
  type ViewPlan,
} from "@vitkd/distill";
import { type Interrupt, InterruptedError } from "./interrupt.ts";
import type { MetricsLog } from "./metrics_log.ts";
import { ProgressBar, type ProgressSink } from "./progress.ts";

/** One finished epoch of a training job, as logged and drawn. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss per image. */
  loss: number;
  /** Training accuracy (averaged heads). */
  accuracy: number;
  /** Seconds the epoch took (the part run in this invocation). */
  seconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
}

/** Shared by every job of one invocation: how many steps may still run. */
export interface StepBudget {
  /** Steps left before the invocation acts as if interrupted; `Infinity` for no limit. */
  remaining: number;
}

/** Everything a resumable training job needs. */
export interface TrainingJob {
  /** Identifies the job's checkpoint and metrics, e.g. `teacher-resnet8`. */
  id: string;
  /** What the progress bar shows. */
  label: string;
  /** The model to train (freshly built from the seed). */
  model: tf.LayersModel;
  /** Training data. */
  dataset: ImageDataset;
  /** Input normalisation. */
  normalization: Normalization;
  /** The augmentation; `undefined` trains on the plain images. */
  augment?: AugmentSpec;
  /** With a store: train each image on one of its stored views. */
  views?: ViewPlan;
  /** Epochs. */
  epochs: number;
  /** Batch size. */
  batchSize: number;
  /** Peak learning rate. */
  learningRate: number;
  /** AdamW weight decay. */
  weightDecay: number;
  /** Warmup epochs. */
  warmupEpochs: number;
  /** The objective. */
  loss: LossConfig;
  /** Teacher logits, for distillation. */
  teachers?: TeacherLogitSource;
  /** The run's seed. */
  seed: number;
  /** Where the job's checkpoint lives. */
  checkpointDir: string;
  /** Ctrl-C. */
  interrupt: Interrupt;
  /** The `--stop-after-steps` budget. */
  budget: StepBudget;
  /** The run's metrics log. */
  metrics: MetricsLog;
  /** Where progress bars draw (stderr by default). */
  sink?: ProgressSink;
}

/** What a finished job returns. */
export interface TrainingOutcome {
  /** Every epoch, resumed ones included. */
  history: EpochRecord[];
  /** Training seconds over all invocations. */
  seconds: number;
  /** Whether this invocation resumed from a checkpoint. */
  resumed: boolean;
}

interface CheckpointExtra {
  job: string;
  history: EpochRecord[];
  seconds: number;
}

/**
 * Trains `job.model` for `job.epochs`, resuming from the job's checkpoint
 * when there is one. Saves a checkpoint after every epoch and when
 * interrupted (Ctrl-C or the step budget), then throws
 * {@linkcode InterruptedError}. The same seed gives the same weights
 * whether or not the job was interrupted and resumed.
 */
export async function runTrainingJob(
  job: TrainingJob,
): Promise<TrainingOutcome> {
  const stepsPerEpoch = countBatches(job.dataset.count, job.batchSize);
  const totalSteps = stepsPerEpoch * job.epochs;
  const warmupSteps = Math.min(
    totalSteps,
    Math.round(job.warmupEpochs * stepsPerEpoch),
  );
  const trainer = new Trainer({
    model: job.model,
    loss: job.loss,
    teachers: job.teachers,
    optimizer: {
      learningRate: job.learningRate,
      weightDecay: job.weightDecay,
    },
    schedule: cosineSchedule({
      baseLearningRate: job.learningRate,
      totalSteps,
      warmupSteps,
    }),
    clipNorm: 5,
    seed: job.seed,
  });
  let history: EpochRecord[] = [];
  let seconds = 0;
  let resumed = false;
  try {
    if (await hasCheckpoint(job.checkpointDir)) {
      const { state, extra } = await loadCheckpoint(job.checkpointDir);
      const saved = extra as CheckpointExtra | undefined;
      if (saved?.job !== job.id) {
        throw new Error(
          `checkpoint ${job.checkpointDir} belongs to job "${saved?.job}", not "${job.id}"`,
        );
      }
      trainer.setState(state);
      history = saved.history;
      seconds = saved.seconds;
      resumed = true;
      job.metrics.write({
        event: "resume",
        job: job.id,
        epoch: state.epoch,
        step: state.stepInEpoch,
      });
    }
    const checkpoint = async (): Promise<void> => {
      await saveCheckpoint(
        job.checkpointDir,
        await trainer.getState(),
        {
          job: job.id,
          history,
          seconds,
        } satisfies CheckpointExtra,
      );
    };
    const stop = async (bar?: ProgressBar): Promise<never> => {
      bar?.finish("interrupted");
      await checkpoint();
      job.metrics.write({
        event: "checkpoint",
        job: job.id,
        epoch: trainer.epoch,
        step: trainer.stepInEpoch,
      });
      throw new InterruptedError(String(job.interrupt.signal.reason));
    };
    while (trainer.epoch < job.epochs) {
      if (job.interrupt.signal.aborted) await stop();
      const epoch = trainer.epoch;
      const bar = new ProgressBar({
        label: `${job.label} epoch ${epoch + 1}/${job.epochs}`,
        total: stepsPerEpoch,
        unit: "step",
        sink: job.sink,
      });
      const startTensors = tf.memory().numTensors;
      const batches = trainingBatches(job.dataset, {
        batchSize: job.batchSize,
        seed: job.seed,
        epoch,
        normalization: job.normalization,
        augment: job.augment,
        views: job.views,
      });
      const result = await trainer.trainEpoch(
        batches,
        {
          steps: stepsPerEpoch,
          signal: job.interrupt.signal,
          onStep: (p) => {
            const loss = p.lossStep > 0 ? p.loss.toFixed(4) : "…";
            bar.update(
              p.step,
              `loss ${loss}  ${p.imagesPerSecond.toFixed(1)} img/s`,
            );
            job.budget.remaining -= 1;
            if (job.budget.remaining <= 0) {
              job.interrupt.stop("--stop-after-steps");
            }
          },
        },
      );
      seconds += result.seconds;
      if (!result.completed) await stop(bar);
      const record: EpochRecord = {
        epoch: epoch + 1,
        loss: result.loss,
        accuracy: result.accuracy,
        seconds: result.seconds,
        imagesPerSecond: result.imagesPerSecond,
      };
      history.push(record);
      bar.finish(
        `loss ${record.loss.toFixed(4)}  acc ${
          (100 * record.accuracy).toFixed(2)
        } %`,
      );
      job.metrics.write({
        event: "epoch",
        job: job.id,
        ...record,
        teacherSeconds: result.teacherSeconds,
        tensors: tf.memory().numTensors - startTensors,
      });
      await checkpoint();
    }
    return { history, seconds, resumed };
  } finally {
    trainer.dispose();
  }
}

/** Options of {@linkcode evaluateModel}. */
export interface EvaluateOptions {
  /** Batch size of inference. */
  batchSize?: number;
  /** Where the progress bar draws. */
  sink?: ProgressSink;
  /** The bar's label. */
  label?: string;
}

/** Accuracy of each head and of the averaged heads on `dataset` (no augmentation). */
export async function evaluateModel(
  model: tf.LayersModel,
  dataset: ImageDataset,
  normalization: Normalization,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const batchSize = options.batchSize ?? 250;
  const bar = new ProgressBar({
    label: options.label ?? "evaluate",
    total: dataset.count,
    unit: "img",
    sink: options.sink,
  });
  const result = await evaluate(model, dataset, normalization, {
    batchSize,
    onProgress: (done) => bar.update(done),
  });
  bar.finish(`acc ${(100 * result.averaged).toFixed(2)} %`);
  return result;
}
