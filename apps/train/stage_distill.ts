import type * as tf from "@tensorflow/tfjs";
import type { AugmentSpec } from "@vitkd/data";
import { streamSeed } from "./seed_streams.ts";
import {
  type LossConfig,
  StoreLogitSource,
  type ViewPlan,
} from "@vitkd/distill";
import { openStore, type StoreReader } from "@vitkd/logit-store";
import {
  buildModel,
  type ModelOptions,
  modelStats,
  readModelMeta,
  resolveOptions,
  saveModel,
} from "@vitkd/models";
import { distillationTokenCount } from "./cli.ts";
import type { TrainConfig } from "./config.ts";
import type { RunContext } from "./context.ts";
import { type RunData, trainedOn } from "./run_data.ts";
import type { ModelResult } from "./run_folder.ts";
import { storeBaseSeed } from "./stage_precompute.ts";
import { teacherNames } from "./stage_teachers.ts";
import {
  evaluateModel,
  runTrainingJob,
  type TrainingOutcome,
} from "./training.ts";

/** The loss configuration of the student's objective. */
export function studentLoss(config: TrainConfig): LossConfig {
  const weights = config.weights;
  return {
    kind: config.loss,
    tau: config.tau,
    classWeight: weights ? weights[0] : 1,
    distillWeights: weights ? weights.slice(1) : undefined,
    labelSmoothing: config.labelSmoothing,
  };
}

/**
 * The build options of a student with `tokens` distillation tokens; its
 * initial weights come from the run's `studentInit` seed stream.
 */
export function studentOptions(
  config: TrainConfig,
  data: RunData,
  tokens: number,
): ModelOptions {
  return resolveOptions(config.student.name, {
    ...config.student.options,
    inputShape: [data.train.height, data.train.width, data.train.channels],
    numClasses: data.train.classNames.length,
    numDistillationTokens: tokens,
    seed: streamSeed(config.seed, "studentInit"),
  });
}

/** The names of a student's heads: `cls`, then one per distillation token. */
export function headNames(config: TrainConfig): string[] {
  if (config.loss === "none") return ["cls"];
  if (config.loss === "ensemble") return ["cls", "ensemble"];
  return ["cls", ...teacherNames(config.teachers)];
}

interface StudentJob {
  id: "student" | "baseline";
  label: string;
  dir: string;
  tokens: number;
  loss: LossConfig;
  reader?: StoreReader;
  /** Stored views to replay without a store (the baseline: the student's views). */
  views?: ViewPlan;
}

async function trainStudent(
  ctx: RunContext,
  data: RunData,
  job: StudentJob,
): Promise<ModelResult> {
  const config = ctx.config;
  const options = studentOptions(config, data, job.tokens);
  const model: tf.LayersModel = buildModel(config.student.name, options);
  try {
    const header = job.reader?.header;
    // The student is evaluated and saved with the data's normalisation, so it
    // must also have trained with it (the store's copy is what the teachers saw).
    if (
      header &&
      JSON.stringify(header.normalization) !==
        JSON.stringify(data.normalization)
    ) {
      throw new Error(
        `logit store ${ctx.paths.store} was computed with normalisation ${
          JSON.stringify(header.normalization)
        }, but the data now normalises with ${
          JSON.stringify(data.normalization)
        }: run precompute again with --force`,
      );
    }
    const outcome: TrainingOutcome = await runTrainingJob({
      id: job.id,
      label: job.label,
      model,
      dataset: data.train,
      normalization: data.normalization,
      augment: (header ? header.augmentation ?? undefined : data.augment) as
        | AugmentSpec
        | undefined,
      views: header
        ? { views: header.views, baseSeed: header.baseSeed }
        : job.views,
      epochs: config.epochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      weightDecay: config.weightDecay,
      warmupEpochs: config.warmupEpochs,
      loss: job.loss,
      teachers: job.reader ? new StoreLogitSource(job.reader) : undefined,
      seed: streamSeed(config.seed, "studentTraining"),
      checkpointDir: ctx.paths.checkpoint(job.id),
      interrupt: ctx.interrupt,
      budget: ctx.budget,
      metrics: ctx.metrics,
      sink: ctx.sink,
    });
    const evaluation = await evaluateModel(
      model,
      data.test,
      data.normalization,
      {
        label: `evaluate ${job.id}`,
        sink: ctx.sink,
      },
    );
    const names = job.id === "student" ? headNames(config) : ["cls"];
    const result: ModelResult = {
      name: job.id,
      architecture: config.student.name,
      parameters: modelStats(model).parameters,
      accuracy: evaluation.averaged,
      headAccuracies: evaluation.heads,
      headNames: names,
      trainSeconds: outcome.seconds,
    };
    await saveModel(model, job.dir, {
      architecture: { name: config.student.name, options },
      ...trainedOn(data),
      metrics: {
        testAccuracy: result.accuracy,
        ...Object.fromEntries(
          names.map((h, i) => [`testAccuracy.${h}`, evaluation.heads[i]]),
        ),
        epochs: config.epochs,
        loss: job.loss.kind ?? "multi",
        trainSeconds: outcome.seconds,
      },
    });
    ctx.metrics.write({
      event: "eval",
      model: job.id,
      role: "student",
      accuracy: result.accuracy,
      heads: evaluation.heads,
    });
    await Deno.remove(ctx.paths.checkpoint(job.id), { recursive: true });
    ctx.log(
      `${job.id}: test accuracy ${
        (100 * result.accuracy).toFixed(2)
      } % (heads ${
        evaluation.heads.map((a, i) => `${names[i]} ${(100 * a).toFixed(2)}`)
          .join(", ")
      })`,
    );
    return result;
  } finally {
    model.dispose();
  }
}

/**
 * Trains the student from the stored logits (one distillation token per
 * teacher, or one for the ensemble), then, when the config asks for it, the
 * same student without teachers. Each saves under `student/` or `baseline/`.
 */
export async function distillStage(ctx: RunContext): Promise<void> {
  const config = ctx.config;
  const data = await ctx.data();
  const tokens = distillationTokenCount(config);
  if (!ctx.state.results.student) {
    let reader: StoreReader | undefined;
    if (tokens > 0) {
      ctx.requireDone("precompute", "distill");
      const names = teacherNames(config.teachers);
      const expected = [];
      for (const name of names) {
        const meta = await readModelMeta(ctx.paths.teacher(name));
        expected.push({ name, fingerprint: meta.weightFingerprint });
      }
      reader = await openStore(ctx.paths.store, {
        expect: {
          datasetFingerprint: data.train.fingerprint,
          teachers: expected,
          numClasses: data.train.classNames.length,
        },
      });
    }
    try {
      ctx.state.results.student = await trainStudent(ctx, data, {
        id: "student",
        label: tokens > 0 ? `student (${config.loss})` : "student",
        dir: ctx.paths.student,
        tokens,
        loss: studentLoss(config),
        reader,
      });
    } finally {
      reader?.close();
    }
    await ctx.save();
  }
  if (config.baseline && tokens > 0 && !ctx.state.results.baseline) {
    ctx.state.results.baseline = await trainStudent(ctx, data, {
      id: "baseline",
      label: "student without teachers",
      dir: ctx.paths.baseline,
      tokens: 0,
      loss: { kind: "none", labelSmoothing: config.labelSmoothing },
      // The same stored views as the student, in the same order: a fresh
      // view per epoch would give the baseline more augmentation than the
      // student gets, and the comparison would measure that instead.
      views: config.augment
        ? { views: config.views, baseSeed: storeBaseSeed(config) }
        : undefined,
    });
    await ctx.save();
  }
}
