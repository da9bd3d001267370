import { streamSeed } from "./seed_streams.ts";
import {
  precompute,
  type StoreEncoding as StoreFileEncoding,
  type StoreTeacher,
} from "@vitkd/logit-store";
import { foldBatchNorm, loadModel, weightFingerprint } from "@vitkd/models";
import type * as tf from "@tensorflow/tfjs";
import type { StoreEncoding, TrainConfig } from "./config.ts";
import type { RunContext } from "./context.ts";
import { InterruptedError } from "./interrupt.ts";
import { ProgressBar } from "./progress.ts";
import { teacherNames } from "./stage_teachers.ts";

/** The store encoding a config asks for, in the store package's terms. */
export function storeEncoding(
  encoding: StoreEncoding,
  topK: number,
): StoreFileEncoding {
  switch (encoding) {
    case "fp32":
      return { kind: "dense", dtype: "float32" };
    case "topk":
      return { kind: "topk", dtype: "float16", k: topK };
    default:
      return { kind: "dense", dtype: "float16" };
  }
}

/** The base seed of the stored views: view v of image i uses `viewSeed(base, i, v)`. */
export function storeBaseSeed(config: TrainConfig): number {
  return streamSeed(config.seed, "storedViews");
}

/** A loaded teacher: its model plus what the store records about it. */
export interface LoadedTeacher {
  /** The store's view of the teacher. */
  store: StoreTeacher;
  /** The model for inference, batch norms folded (dispose when done). */
  model: tf.LayersModel;
}

/** Loads the run's saved teachers, in token order. */
export async function loadTeachers(ctx: RunContext): Promise<LoadedTeacher[]> {
  const names = teacherNames(ctx.config.teachers);
  const loaded: LoadedTeacher[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const { model: saved } = await loadModel(ctx.paths.teacher(name));
      let fingerprint: string;
      let model: tf.LayersModel;
      try {
        // the store names the saved weights; the logits come from a copy
        // whose batch norms are folded into the convolutions (one kernel
        // each instead of three, the same values up to float rounding)
        fingerprint = await weightFingerprint(saved);
        model = (await foldBatchNorm(saved)).model;
      } finally {
        saved.dispose();
      }
      loaded.push({
        model,
        store: {
          name,
          kind: ctx.config.teachers[i],
          fingerprint,
          predict: (x) => model.predict(x) as tf.Tensor2D,
        },
      });
    }
  } catch (error) {
    for (const t of loaded) t.model.dispose();
    throw error;
  }
  return loaded;
}

/** The file a shard of the run's store is written to. */
export function shardPath(store: string, index: number, count: number): string {
  return `${store}.shard-${index}-of-${count}`;
}

/**
 * Runs every saved teacher over every stored view of the training set and
 * writes their logits to `logits.vkl` (or one shard of it). An interrupted
 * precompute resumes where it stopped.
 */
export async function precomputeStage(ctx: RunContext): Promise<void> {
  ctx.requireDone("teachers", "precompute");
  const config = ctx.config;
  const data = await ctx.data();
  const teachers = await loadTeachers(ctx);
  const shard = ctx.options.shard;
  const path = shard
    ? shardPath(ctx.paths.store, shard.index, shard.count)
    : ctx.paths.store;
  let bar: ProgressBar | undefined;
  try {
    const result = await precompute({
      path,
      dataset: data.train,
      teachers: teachers.map((t) => t.store),
      views: config.views,
      augmentation: data.augment ?? null,
      baseSeed: storeBaseSeed(config),
      normalization: data.normalization,
      encoding: storeEncoding(config.encoding, config.topK),
      shard,
      signal: ctx.interrupt.signal,
      overwrite: ctx.options.force,
      restart: ctx.options.force,
      onProgress: (p) => {
        bar ??= new ProgressBar({
          label: `precompute ${teachers.length} teacher(s)`,
          total: p.total,
          unit: "view",
          sink: ctx.sink,
        });
        bar.update(p.done);
      },
    });
    bar?.finish();
    ctx.metrics.write({
      event: "precompute",
      path,
      bytes: result.bytes,
      seconds: result.seconds,
      teacherSeconds: result.teacherSeconds,
      viewsComputed: result.viewsComputed,
      chunksResumed: result.chunksResumed,
      alreadyComplete: result.alreadyComplete,
    });
    ctx.log(
      `store ${path}: ${
        result.bytes.toLocaleString("en-US")
      } bytes, ${result.viewsComputed} views computed${
        result.chunksResumed ? `, ${result.chunksResumed} chunks resumed` : ""
      }`,
    );
  } catch (error) {
    if (ctx.interrupt.signal.aborted) {
      bar?.finish("interrupted");
      throw new InterruptedError(String(ctx.interrupt.signal.reason));
    }
    throw error;
  } finally {
    for (const t of teachers) t.model.dispose();
  }
}
