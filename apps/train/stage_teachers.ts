import { iterateBatches } from "@vitkd/data";
import { streamSeed } from "./seed_streams.ts";
import { recalibrateBatchNorm } from "./batch_norm_calibration.ts";
import {
  buildModel,
  modelStats,
  resolveOptions,
  saveModel,
} from "@vitkd/models";
import type { RunContext } from "./context.ts";
import { exists, type ModelResult } from "./run_folder.ts";
import { evaluateModel, runTrainingJob } from "./training.ts";
import { trainedOn } from "./run_data.ts";

/**
 * The name of each teacher in the run: its kind, with `-2`, `-3`, ... for
 * repeats, so `resnet8,resnet8` trains two teachers from different seeds.
 */
export function teacherNames(kinds: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return kinds.map((kind) => {
    const n = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, n);
    return n === 1 ? kind : `${kind}-${n}`;
  });
}

/** Whether a saved model folder is complete (its meta.json is written last). */
export function isSavedModel(dir: string): Promise<boolean> {
  return exists(`${dir}/meta.json`);
}

/**
 * Trains every teacher with cross-entropy, evaluates it on the test set and
 * saves it under `teachers/<name>/`. A teacher already saved is kept; an
 * interrupted one resumes from its checkpoint.
 */
export async function teachersStage(ctx: RunContext): Promise<void> {
  const config = ctx.config;
  const data = await ctx.data();
  const names = teacherNames(config.teachers);
  const results: ModelResult[] = [];
  for (const [i, kind] of config.teachers.entries()) {
    const name = names[i];
    const dir = ctx.paths.teacher(name);
    const previous = ctx.state.results.teachers.find((t) => t.name === name);
    if (previous && await isSavedModel(dir)) {
      ctx.log(`teacher ${name}: already trained, kept`);
      results.push(previous);
      continue;
    }
    const options = resolveOptions(kind, {
      inputShape: [data.train.height, data.train.width, data.train.channels],
      numClasses: data.train.classNames.length,
      seed: streamSeed(config.seed, "teacherInit", i),
    });
    const model = buildModel(kind, options);
    try {
      const jobId = `teacher-${name}`;
      const outcome = await runTrainingJob({
        id: jobId,
        label: `teacher ${name}`,
        model,
        dataset: data.train,
        normalization: data.normalization,
        augment: data.augment,
        epochs: config.teacherEpochs,
        batchSize: config.teacherBatchSize,
        learningRate: config.teacherLearningRate,
        weightDecay: config.weightDecay,
        warmupEpochs: Math.min(config.warmupEpochs, config.teacherEpochs / 2),
        loss: { kind: "none", labelSmoothing: config.labelSmoothing },
        seed: streamSeed(config.seed, "teacherTraining", i),
        checkpointDir: ctx.paths.checkpoint(jobId),
        interrupt: ctx.interrupt,
        budget: ctx.budget,
        metrics: ctx.metrics,
        sink: ctx.sink,
      });
      // Few steps leave the batch-norm moving statistics near their initial
      // values; re-estimate them on up to ~2,000 training views.
      await recalibrateBatchNorm(
        model,
        iterateBatches(data.train, {
          batchSize: config.teacherBatchSize,
          seed: streamSeed(config.seed, "teacherRecalibration", i),
          augment: data.augment,
          normalization: data.normalization,
        }),
        Math.ceil(2000 / config.teacherBatchSize),
      );
      const evaluation = await evaluateModel(
        model,
        data.test,
        data.normalization,
        {
          label: `evaluate teacher ${name}`,
          sink: ctx.sink,
        },
      );
      const result: ModelResult = {
        name,
        architecture: kind,
        parameters: modelStats(model).parameters,
        accuracy: evaluation.averaged,
        trainSeconds: outcome.seconds,
      };
      await saveModel(model, dir, {
        architecture: {
          name: kind,
          options: {
            inputShape: [
              data.train.height,
              data.train.width,
              data.train.channels,
            ],
            numClasses: data.train.classNames.length,
            seed: streamSeed(config.seed, "teacherInit", i),
          },
        },
        ...trainedOn(data),
        metrics: {
          testAccuracy: result.accuracy,
          epochs: config.teacherEpochs,
          trainSeconds: outcome.seconds,
        },
      });
      ctx.metrics.write({
        event: "eval",
        model: name,
        role: "teacher",
        accuracy: result.accuracy,
      });
      await Deno.remove(ctx.paths.checkpoint(jobId), { recursive: true });
      results.push(result);
      ctx.state.results.teachers = [...results];
      await ctx.save();
    } finally {
      model.dispose();
    }
    ctx.log(
      `teacher ${name}: test accuracy ${
        (100 * results[i].accuracy).toFixed(2)
      } %`,
    );
  }
  ctx.state.results.teachers = results;
}
