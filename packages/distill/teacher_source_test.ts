import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertRejects,
} from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { augmentImage, computeNormalization, viewSeed } from "@vitkd/data";
import {
  openStore,
  precompute,
  type StoreDtype,
  type StoreTeacher,
} from "@vitkd/logit-store";
import { trainingBatches } from "./batches.ts";
import { Trainer } from "./loop.ts";
import { cosineSchedule } from "./schedule.ts";
import {
  LiveTeacherSource,
  StoreLogitSource,
  type TeacherLogitSource,
} from "./teacher_source.ts";
import { chooseView } from "./views.ts";
import {
  disposeModels,
  syntheticDataset,
  tinyStudent,
  tinyTeacher,
  weightValues,
} from "./_test_utils.ts";

await initBackend({ backend: "cpu" });

const train = syntheticDataset(40, 8);
const normalization = computeNormalization(train);
const AUGMENT = { padding: 1, flip: true };
const VIEWS = { views: 3, baseSeed: 17 };
const SEED = 23;

const batchesFor = (epoch: number) =>
  trainingBatches(train, {
    batchSize: 8,
    seed: SEED,
    epoch,
    normalization,
    augment: AUGMENT,
    views: VIEWS,
  });

function asStoreTeacher(model: tf.LayersModel, name: string): StoreTeacher {
  return {
    name,
    kind: "dense",
    fingerprint: `test-${name}`,
    predict: (x) => model.predict(x) as tf.Tensor2D,
  };
}

async function writeStore(
  dir: string,
  teachers: tf.LayersModel[],
  dtype: StoreDtype,
): Promise<string> {
  const path = `${dir}/logits-${dtype}.vkl`;
  await precompute({
    path,
    dataset: train,
    teachers: teachers.map((t, i) => asStoreTeacher(t, `t${i}`)),
    views: VIEWS.views,
    augmentation: AUGMENT,
    baseSeed: VIEWS.baseSeed,
    normalization,
    encoding: { kind: "dense", dtype },
  });
  return path;
}

async function trainLosses(
  source: TeacherLogitSource,
  epochs: number,
): Promise<{ losses: number[]; weights: number[][] }> {
  const model = tinyStudent(77, 2);
  const trainer = new Trainer({
    model,
    teachers: source,
    loss: { kind: "multi", tau: 2 },
    optimizer: { learningRate: 0.01 },
    schedule: cosineSchedule({ baseLearningRate: 0.01, totalSteps: 10 }),
    seed: SEED,
  });
  const losses: number[] = [];
  for (let e = 0; e < epochs; e++) {
    await trainer.trainEpoch(batchesFor(e), {
      onStep: (p) => losses.push(p.loss),
    });
  }
  const weights = weightValues(model);
  trainer.dispose();
  model.dispose();
  return { losses, weights };
}

Deno.test("batches carry the stored view: x is view chooseView(seed, e, i) of the store's seeds", async () => {
  const batches = batchesFor(1);
  const first = (await batches.next()).value!;
  await batches.return();
  const shape = { height: 8, width: 8, channels: 1 };
  for (let r = 0; r < first.indices.length; r++) {
    const index = first.indices[r];
    const view = chooseView(SEED, 1, index, VIEWS.views);
    assertEquals(first.viewIndices![r], view);
    const u8 = augmentImage(
      train.images.subarray(index * 64, (index + 1) * 64),
      shape,
      AUGMENT,
      viewSeed(VIEWS.baseSeed, index, view),
    );
    const row = first.x.slice([r, 0, 0, 0], [1, 8, 8, 1]);
    const expected = Array.from(u8, (p) =>
      Math.fround(
        Math.fround(p / 255 - normalization.mean[0]) / normalization.std[0],
      ));
    const actual = Array.from(row.dataSync());
    actual.forEach((v, k) => assertAlmostEquals(v, expected[k], 1e-5));
    row.dispose();
  }
  tf.dispose([first.x, first.y]);
});

Deno.test("stored logits equal the live teachers' on the same views, and training matches", async () => {
  const teachers = [tinyTeacher(51), tinyTeacher(52)];
  const dir = await Deno.makeTempDir({ prefix: "distill_store_" });
  try {
    const live = new LiveTeacherSource(teachers);
    const fp32 = await openStore(await writeStore(dir, teachers, "float32"));
    const fp16 = await openStore(await writeStore(dir, teachers, "float16"));
    try {
      // the logits of one batch, directly
      const batches = batchesFor(0);
      const batch = (await batches.next()).value!;
      await batches.return();
      const fromLive = live.logitsFor(batch);
      const fromStore = await new StoreLogitSource(fp32).logitsFor(batch);
      const fromHalf = await new StoreLogitSource(fp16).logitsFor(batch);
      fromLive.forEach((t, i) => {
        const a = t.dataSync();
        const b = fromStore[i].dataSync();
        const h = fromHalf[i].dataSync();
        a.forEach((v, k) => {
          assertAlmostEquals(b[k], v, 1e-5);
          assertAlmostEquals(h[k], v, Math.abs(v) * 1e-3 + 1e-4);
        });
      });
      tf.dispose([batch.x, batch.y, ...fromLive, ...fromStore, ...fromHalf]);

      // two epochs of training: same losses and weights
      const reference = await trainLosses(live, 2);
      const stored = await trainLosses(new StoreLogitSource(fp32), 2);
      const half = await trainLosses(new StoreLogitSource(fp16), 2);
      assertEquals(reference.losses.length, 10);
      reference.losses.forEach((loss, i) => {
        assertAlmostEquals(stored.losses[i], loss, 1e-5);
        assertAlmostEquals(half.losses[i], loss, 2e-3);
      });
      reference.weights.forEach((w, i) =>
        w.forEach((v, k) => assertAlmostEquals(stored.weights[i][k], v, 1e-5))
      );
      // the store changes the numbers at all only by fp16 rounding
      assert(
        half.losses.some((l, i) => l !== reference.losses[i]) ||
          half.weights.flat().some((v, i) => v !== reference.weights.flat()[i]),
      );
    } finally {
      fp32.close();
      fp16.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    disposeModels(...teachers);
  }
});

Deno.test("StoreLogitSource rejects batches without views and wrong-sized rows", async () => {
  const reader = {
    teacherCount: 2,
    numClasses: 3,
    readBatch: (images: ArrayLike<number>) => [
      new Float32Array(images.length * 3),
      new Float32Array(images.length * 2),
    ],
  };
  const source = new StoreLogitSource(reader);
  const x = tf.zeros([2, 8, 8, 1]) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1], "int32");
  await assertRejects(
    async () => await source.logitsFor({ x, y, indices: [0, 1] }),
    Error,
    "no viewIndices",
  );
  await assertRejects(
    async () =>
      await source.logitsFor({ x, y, indices: [0, 1], viewIndices: [0] }),
    Error,
    "2 indices but 1 viewIndices",
  );
  await assertRejects(
    async () =>
      await source.logitsFor({ x, y, indices: [0, 1], viewIndices: [0, 0] }),
    Error,
    "teacher 1 returned 4 values, expected 2 rows x 3 classes",
  );
  tf.dispose([x, y]);
});
