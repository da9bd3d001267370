/**
 * The training side of the fair comparison: per seed, the data (training
 * subset, a validation split carved from the unused training images, the
 * test set), the four teachers, one logit store per teacher (all with the
 * same views), and each student arm. Every finished piece is written to
 * disk, so a stopped run resumes where it was (within an arm, from the
 * training job's last checkpoint).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type AugmentSpec,
  defaultAugmentation,
  holdOutPerClass,
  type ImageDataset,
  iterateBatches,
  knownNormalization,
  type Normalization,
  type SubsetDataset,
  subsetPerClass,
} from "@vitkd/data";
import {
  encodeOutcomes,
  predictOutcomes,
  StoreLogitSource,
  type TeacherLogitSource,
  type TrainingBatch,
} from "@vitkd/distill";
import {
  openStore,
  precompute,
  type StoreReader,
  storeTeacherFromModel,
} from "@vitkd/logit-store";
import {
  buildModel,
  loadModel,
  modelStats,
  resolveOptions,
  saveModel,
  weightFingerprint,
} from "@vitkd/models";
import {
  type Interrupt,
  type MetricsLog,
  type ProgressSink,
  recalibrateBatchNorm,
  runTrainingJob,
  trainedOn,
} from "@vitkd/train";
import { join } from "node:path";
import {
  type Arm,
  armWeights,
  type FairBudget,
  seedFor,
  type TeacherSpec,
} from "./fair_setup.ts";

/** The images of one seed. */
export interface SeedData {
  /** The low-data training subset. */
  train: SubsetDataset;
  /** Validation images: unused training images, for every choice. */
  val: SubsetDataset;
  /** Test images: evaluated once, at the end of each model. */
  test: ImageDataset;
  /** Input normalisation. */
  normalization: Normalization;
  /** Training augmentation of the stored views. */
  augment: AugmentSpec;
}

/** Draws a seed's subsets from the full CIFAR-10 splits. */
export function seedData(
  budget: FairBudget,
  seed: number,
  fullTrain: ImageDataset,
  fullTest: ImageDataset,
): SeedData {
  const train = subsetPerClass(
    fullTrain,
    budget.perClass,
    seedFor(seed, "trainSubset"),
  );
  const val = holdOutPerClass(
    fullTrain,
    budget.valPerClass,
    seedFor(seed, "validation"),
    train.sourceIndices,
  );
  const test = budget.testPerClass === "all" ? fullTest : subsetPerClass(
    fullTest,
    budget.testPerClass,
    seedFor(seed, "testSubset"),
  );
  return {
    train,
    val,
    test,
    normalization: knownNormalization("cifar10-folder")!,
    augment: defaultAugmentation("cifar10-folder"),
  };
}

/** What one invocation shares across seeds. */
export interface FairContext {
  /** The budget being run. */
  budget: FairBudget;
  /** Its {@linkcode budgetKey}. */
  key: string;
  /** The folder of the seed's runs (teachers, stores, checkpoints). */
  seedDir: string;
  /** The seed. */
  seed: number;
  /** The seed's images. */
  data: SeedData;
  /** Whether the test set may be evaluated (false: validation only). */
  useTest: boolean;
  /** Ctrl-C. */
  interrupt: Interrupt;
  /** The seed's metrics log. */
  metrics: MetricsLog;
  /** Where progress bars draw. */
  sink?: ProgressSink;
  /** Progress lines. */
  log: (message: string) => void;
  /** Switches tfjs to the teachers' or the students' backend. */
  useBackend: (role: "teachers" | "students") => Promise<void>;
}

/** A trained teacher's figures. */
export interface TeacherResult {
  /** Teacher id (`cnn`, `cnn2`, `inn`, `inn2`). */
  id: string;
  /** Registered kind. */
  kind: string;
  /** Fingerprint of its saved weights (the stores and arms record it). */
  fingerprint: string;
  /** Trainable parameters. */
  parameters: number;
  /** Validation accuracy. */
  valAccuracy: number;
  /** Test accuracy, or null when the test set is not used. */
  testAccuracy: number | null;
  /** Per-image test outcomes (base64 bit set), or null. */
  testCorrect: string | null;
  /** Training seconds. */
  trainSeconds: number;
}

/** Per-image outcomes (1 = right) of a model's averaged heads on `dataset`. */
export function outcomesOf(
  model: tf.LayersModel,
  dataset: ImageDataset,
  normalization: Normalization,
): Promise<Uint8Array> {
  return predictOutcomes(model, dataset, normalization);
}

function mean(values: Uint8Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Writes JSON through a temporary file, so a crash never leaves half a file. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 1) + "\n");
  await Deno.rename(tmp, path);
}

function teacherDir(ctx: FairContext, spec: TeacherSpec): string {
  return join(ctx.seedDir, "teachers", spec.id);
}

/**
 * Trains a teacher with cross-entropy (no label smoothing by default),
 * re-estimates its batch-norm statistics, evaluates and saves it; a saved
 * one is reused.
 */
export async function ensureTeacher(
  ctx: FairContext,
  spec: TeacherSpec,
): Promise<TeacherResult> {
  const dir = teacherDir(ctx, spec);
  const recordPath = join(dir, "teacher.json");
  const previous = await readJson<TeacherResult>(recordPath);
  if (previous && (previous.testAccuracy !== null || !ctx.useTest)) {
    return previous;
  }
  await ctx.useBackend("teachers");
  const { budget, data } = ctx;
  const options = resolveOptions(spec.kind, {
    inputShape: [data.train.height, data.train.width, data.train.channels],
    numClasses: data.train.classNames.length,
    seed: seedFor(ctx.seed, "teacherInit", spec.salt),
  });
  let model: tf.LayersModel;
  let trainSeconds: number;
  if (previous) {
    // trained in a validation-only invocation; only the test figures are missing
    model = (await loadModel(dir)).model;
    trainSeconds = previous.trainSeconds;
  } else {
    ctx.log(`seed ${ctx.seed}: teacher ${spec.id} (${spec.kind})`);
    model = buildModel(spec.kind, options);
    const jobId = `teacher-${spec.id}`;
    const outcome = await runTrainingJob({
      id: jobId,
      label: `s${ctx.seed} teacher ${spec.id}`,
      model,
      dataset: data.train,
      normalization: data.normalization,
      augment: data.augment,
      epochs: budget.teacherEpochs,
      batchSize: budget.teacherBatchSize,
      learningRate: budget.teacherLearningRate,
      weightDecay: budget.weightDecay,
      warmupEpochs: Math.min(budget.warmup, budget.teacherEpochs / 2),
      loss: { kind: "none", labelSmoothing: budget.teacherLabelSmoothing },
      seed: seedFor(ctx.seed, "teacherShuffle", spec.salt),
      checkpointDir: join(ctx.seedDir, "checkpoints", jobId),
      interrupt: ctx.interrupt,
      budget: { remaining: Infinity },
      metrics: ctx.metrics,
      sink: ctx.sink,
    });
    trainSeconds = outcome.seconds;
    // a short run leaves the moving statistics near their initial values
    await recalibrateBatchNorm(
      model,
      iterateBatches(data.train, {
        batchSize: budget.teacherBatchSize,
        seed: seedFor(ctx.seed, "calibration", spec.salt),
        augment: data.augment,
        normalization: data.normalization,
      }),
      Math.ceil(2000 / budget.teacherBatchSize),
    );
    await saveModel(model, dir, {
      architecture: { name: spec.kind, options },
      ...trainedOn(data),
      metrics: { epochs: budget.teacherEpochs, trainSeconds },
    });
    // Best effort: the arm's result is saved; a leftover checkpoint only
    // takes space.
    await Deno.remove(join(ctx.seedDir, "checkpoints", jobId), {
      recursive: true,
    }).catch(() => {});
  }
  try {
    const val = await outcomesOf(model, data.val, data.normalization);
    const test = ctx.useTest
      ? await outcomesOf(model, data.test, data.normalization)
      : null;
    const result: TeacherResult = {
      id: spec.id,
      kind: spec.kind,
      fingerprint: await weightFingerprint(model),
      parameters: modelStats(model).parameters,
      valAccuracy: mean(val),
      testAccuracy: test ? mean(test) : null,
      testCorrect: test ? encodeOutcomes(test) : null,
      trainSeconds,
    };
    await writeJsonAtomic(recordPath, result);
    ctx.log(
      `seed ${ctx.seed}: teacher ${spec.id} val ${
        (100 * result.valAccuracy).toFixed(2)
      } %${
        result.testAccuracy === null
          ? ""
          : `, test ${(100 * result.testAccuracy).toFixed(2)} %`
      }`,
    );
    return result;
  } finally {
    model.dispose();
  }
}

/** The store of one teacher's logits over the seed's stored views. */
export async function ensureStore(
  ctx: FairContext,
  spec: TeacherSpec,
): Promise<string> {
  const path = join(
    ctx.seedDir,
    "stores",
    `${spec.id}-v${ctx.budget.views}.vkl`,
  );
  await Deno.mkdir(join(ctx.seedDir, "stores"), { recursive: true });
  await ctx.useBackend("teachers");
  const { model, meta } = await loadModel(teacherDir(ctx, spec));
  try {
    await precompute({
      path,
      dataset: ctx.data.train,
      teachers: [
        storeTeacherFromModel(model, {
          name: spec.id,
          kind: spec.kind,
          fingerprint: meta.weightFingerprint,
        }),
      ],
      views: ctx.budget.views,
      augmentation: ctx.data.augment,
      // one base seed for every teacher's store: the same views everywhere
      baseSeed: seedFor(ctx.seed, "views"),
      normalization: ctx.data.normalization,
      encoding: { kind: "dense", dtype: "float32" },
      signal: ctx.interrupt.signal,
    });
  } finally {
    model.dispose();
  }
  return path;
}

/**
 * The logits of several single-teacher stores, in the given order: one
 * distillation target per token.
 */
export class StoresSource implements TeacherLogitSource {
  /** Number of teachers. */
  readonly teacherCount: number;
  #sources: StoreLogitSource[];

  /** Reads from `readers` (kept open by the caller), one teacher each. */
  constructor(readers: StoreReader[]) {
    this.#sources = readers.map((r) => new StoreLogitSource(r));
    this.teacherCount = this.#sources.reduce((n, s) => n + s.teacherCount, 0);
  }

  /** Every store's logits for the batch's (image, view) rows. */
  async logitsFor(batch: TrainingBatch): Promise<tf.Tensor2D[]> {
    const out: tf.Tensor2D[] = [];
    try {
      for (const source of this.#sources) {
        out.push(...await source.logitsFor(batch));
      }
    } catch (error) {
      tf.dispose(out);
      throw error;
    }
    return out;
  }
}

/** A finished arm of one seed: what the tables are made of. */
export interface ArmResult {
  /** File format marker. */
  format: "vitkd-fair-arm";
  /** The budget's name. */
  budget: string;
  /** The budget's key: results of another key are not mixed in. */
  key: string;
  /** The seed. */
  seed: number;
  /** The arm id. */
  arm: string;
  /** Token source of the arm. */
  tokens: "learned" | "stems";
  /** Teachers used, with the fingerprints of their weights. */
  teachers: { id: string; fingerprint: string }[];
  /** Loss weights: class head, then each distillation token. */
  weights: number[];
  /** Trainable parameters of the student. */
  parameters: number;
  /** Validation accuracy (averaged heads). */
  valAccuracy: number;
  /** Test accuracy, or null for a validation-only run. */
  testAccuracy: number | null;
  /** Per-image validation outcomes (base64 bit set). */
  valCorrect: string;
  /** Per-image test outcomes (base64 bit set), or null. */
  testCorrect: string | null;
  /** Training seconds of the student. */
  trainSeconds: number;
  /** The backend it trained on. */
  backend: string;
  /** When it finished. */
  finishedAt: string;
}

/** Trains and evaluates one arm of one seed. */
export async function runArm(
  ctx: FairContext,
  budgetName: string,
  arm: Arm,
  teachers: TeacherResult[],
  stores: string[],
): Promise<ArmResult> {
  const { budget, data } = ctx;
  await ctx.useBackend("students");
  const tokens = arm.tokens ?? "learned";
  const readers: StoreReader[] = [];
  const jobId = `arm-${arm.id}-${ctx.key}`;
  const options = resolveOptions(budget.student.name, {
    patchSize: budget.student.patchSize,
    dim: budget.student.dim,
    depth: budget.student.depth,
    numHeads: budget.student.numHeads,
    mlpDim: budget.student.mlpDim,
    inputShape: [data.train.height, data.train.width, data.train.channels],
    numClasses: data.train.classNames.length,
    numDistillationTokens: arm.teachers.length,
    ...(tokens === "stems" ? { distillationTokens: "stems" } : {}),
    seed: seedFor(ctx.seed, "studentInit"),
  });
  const model = buildModel(budget.student.name, options);
  try {
    for (const path of stores) readers.push(await openStore(path));
    const weights = armWeights(budget, arm);
    ctx.log(`seed ${ctx.seed}: arm ${arm.id} (weights ${weights.join(", ")})`);
    const outcome = await runTrainingJob({
      id: jobId,
      label: `s${ctx.seed} ${arm.id}`,
      model,
      dataset: data.train,
      normalization: data.normalization,
      augment: data.augment,
      // the no-teacher arm replays the same stored views as the others
      views: { views: budget.views, baseSeed: seedFor(ctx.seed, "views") },
      epochs: budget.epochs,
      batchSize: budget.batchSize,
      learningRate: budget.learningRate,
      weightDecay: budget.weightDecay,
      warmupEpochs: budget.warmup,
      loss: arm.teachers.length === 0
        ? { kind: "none", labelSmoothing: budget.labelSmoothing }
        : {
          kind: "multi",
          tau: budget.tau,
          classWeight: weights[0],
          distillWeights: weights.slice(1),
          labelSmoothing: budget.labelSmoothing,
        },
      teachers: readers.length ? new StoresSource(readers) : undefined,
      seed: seedFor(ctx.seed, "studentShuffle"),
      checkpointDir: join(ctx.seedDir, "checkpoints", jobId),
      interrupt: ctx.interrupt,
      budget: { remaining: Infinity },
      metrics: ctx.metrics,
      sink: ctx.sink,
    });
    const val = await outcomesOf(model, data.val, data.normalization);
    const test = ctx.useTest
      ? await outcomesOf(model, data.test, data.normalization)
      : null;
    // Best effort: the arm's result is saved; a leftover checkpoint only
    // takes space.
    await Deno.remove(join(ctx.seedDir, "checkpoints", jobId), {
      recursive: true,
    }).catch(() => {});
    return {
      format: "vitkd-fair-arm",
      budget: budgetName,
      key: ctx.key,
      seed: ctx.seed,
      arm: arm.id,
      tokens,
      teachers: arm.teachers.map((id) => {
        const t = teachers.find((r) => r.id === id);
        if (!t) throw new Error(`arm ${arm.id}: teacher ${id} not trained`);
        return { id, fingerprint: t.fingerprint };
      }),
      weights,
      parameters: modelStats(model).parameters,
      valAccuracy: mean(val),
      testAccuracy: test ? mean(test) : null,
      valCorrect: encodeOutcomes(val),
      testCorrect: test ? encodeOutcomes(test) : null,
      trainSeconds: outcome.seconds,
      backend: tf.getBackend(),
      finishedAt: new Date().toISOString(),
    };
  } finally {
    for (const r of readers) r.close();
    model.dispose();
  }
}
