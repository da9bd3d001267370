import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { computeNormalization } from "@vitkd/data";
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { evaluate } from "./batches.ts";
import { DistillError } from "./errors.ts";
import { trainingBatches } from "./batches.ts";
import { type StepProgress, Trainer, type TrainerOptions } from "./loop.ts";
import { cosineSchedule } from "./schedule.ts";
import { LiveTeacherSource } from "./teacher_source.ts";
import {
  disposeModels,
  syntheticDataset,
  tinyStudent,
  tinyTeacher,
  weightValues,
} from "./_test_utils.ts";

await initBackend({ backend: "cpu" });

const train = syntheticDataset(48, 1);
const normalization = computeNormalization(train);
const AUGMENT = { padding: 1, flip: true };
const VIEWS = { views: 3, baseSeed: 11 };
const SEED = 5;

const batchesFor = (epoch: number) =>
  trainingBatches(train, {
    batchSize: 8,
    seed: SEED,
    epoch,
    normalization,
    augment: AUGMENT,
    views: VIEWS,
  });

function studentOptions(
  model: tf.LayersModel,
  teachers: tf.LayersModel[],
): TrainerOptions {
  return {
    model,
    teachers: new LiveTeacherSource(teachers),
    loss: { kind: "multi", tau: 2, labelSmoothing: 0.1 },
    optimizer: { learningRate: 0.01, weightDecay: 0.05 },
    schedule: cosineSchedule({
      baseLearningRate: 0.01,
      totalSteps: 12,
      warmupSteps: 2,
    }),
    clipNorm: 1,
    seed: SEED,
  };
}

Deno.test("Trainer trains a teacher with plain cross-entropy; evaluate reports it", async () => {
  const model = tinyTeacher(3);
  const trainer = new Trainer({
    model,
    loss: { kind: "none", labelSmoothing: 0.05 },
    optimizer: { learningRate: 0.02 },
    seed: SEED,
  });
  const results = [];
  for (let epoch = 0; epoch < 6; epoch++) {
    results.push(await trainer.trainEpoch(batchesFor(epoch)));
  }
  assert(
    results[5].loss < results[0].loss * 0.6,
    `loss ${results[0].loss} -> ${results[5].loss}`,
  );
  assert(results[5].accuracy > 0.8, `train accuracy ${results[5].accuracy}`);
  assertEquals(results[5].images, 48);
  assertEquals(results[5].steps, 6);
  assertEquals(trainer.epoch, 6);
  const evaluation = await evaluate(
    model,
    syntheticDataset(30, 2),
    normalization,
    {
      batchSize: 7,
    },
  );
  assertEquals(evaluation.count, 30);
  assertEquals(evaluation.heads.length, 1);
  assertEquals(evaluation.averaged, evaluation.heads[0]);
  assert(evaluation.averaged > 0.9, `test accuracy ${evaluation.averaged}`);
  trainer.dispose();
  model.dispose();
});

Deno.test("evaluate: per-head and averaged accuracy match a plain computation", async () => {
  const model = tinyStudent(4, 2);
  const test = syntheticDataset(20, 3);
  const evaluation = await evaluate(model, test, normalization, {
    batchSize: 6,
  });
  // reference: one forward pass over everything, counted in JS
  const x = tf.tidy(() =>
    tf.tensor4d(test.images, [20, 8, 8, 1]).div(255).sub(normalization.mean[0])
      .div(normalization.std[0])
  );
  const outputs = model.predict(x) as tf.Tensor[];
  const logits = outputs.map((o) => o.arraySync() as number[][]);
  const argmax = (row: number[]) => row.indexOf(Math.max(...row));
  const headAcc = logits.map((rows) =>
    rows.filter((r, i) => argmax(r) === test.labels[i]).length / 20
  );
  const softmax = (r: number[]) => {
    const e = r.map((v) => Math.exp(v - Math.max(...r)));
    const s = e.reduce((a, b) => a + b);
    return e.map((v) => v / s);
  };
  const averaged = logits[0].filter((_, i) => {
    const mean = [0, 1, 2].map((k) =>
      logits.reduce((acc, rows) => acc + softmax(rows[i])[k], 0)
    );
    return argmax(mean) === test.labels[i];
  }).length / 20;
  assertEquals(evaluation.heads, headAcc);
  assertEquals(evaluation.averaged, averaged);
  tf.dispose([x, ...outputs]);
  model.dispose();
});

Deno.test("a student epoch reports progress and leaks no tensors", async () => {
  const teachers = [tinyTeacher(21), tinyTeacher(22)];
  const model = tinyStudent(7, 2);
  const trainer = new Trainer({
    ...studentOptions(model, teachers),
    readEvery: 4,
  });
  await trainer.trainEpoch(batchesFor(0));
  const before = tf.memory().numTensors;
  const progress: StepProgress[] = [];
  const losses: [number, number][] = [];
  const result = await trainer.trainEpoch(batchesFor(1), {
    steps: 6,
    onStep: (p) => progress.push(p),
    onLoss: (step, loss) => losses.push([step, loss]),
  });
  assertEquals(tf.memory().numTensors, before);
  assertEquals(progress.map((p) => p.step), [1, 2, 3, 4, 5, 6]);
  assert(progress.every((p) => p.epoch === 1 && p.steps === 6));
  assert(progress.every((p) => p.imagesPerSecond > 0));
  // readEvery 4: steps 1-3 have no loss read yet, steps 4-6 show step 4's
  assertEquals(progress.map((p) => p.lossStep), [0, 0, 0, 4, 4, 4]);
  assertEquals(progress[3].loss, losses[3][1]);
  // every step's loss is read once, in order, at the fourth step and the end
  assertEquals(losses.map(([step]) => step), [1, 2, 3, 4, 5, 6]);
  assert(losses.every(([, loss]) => Number.isFinite(loss)));
  const mean = losses.reduce((sum, [, loss]) => sum + loss * 8, 0) / 48;
  assert(Math.abs(mean - result.loss) < 1e-9);
  // the schedule's position continues across epochs: global steps 6..11
  const expectedLr = cosineSchedule({
    baseLearningRate: 0.01,
    totalSteps: 12,
    warmupSteps: 2,
  });
  assertEquals(progress.map((p) => p.lr), [6, 7, 8, 9, 10, 11].map(expectedLr));
  assert(result.teacherSeconds > 0 && result.teacherSeconds < result.seconds);
  assertEquals(trainer.globalStep, 12);
  trainer.dispose();
  disposeModels(model, ...teachers);
});

Deno.test("resume: 1 epoch + checkpoint + restore + 1 epoch gives the weights of 2 epochs", async () => {
  const teachers = [tinyTeacher(31), tinyTeacher(32)];
  const straight = tinyStudent(9, 2);
  const a = new Trainer(studentOptions(straight, teachers));
  await a.trainEpoch(batchesFor(0));
  await a.trainEpoch(batchesFor(1));

  const dir = await Deno.makeTempDir({ prefix: "distill_resume_" });
  try {
    const first = tinyStudent(9, 2);
    const b = new Trainer(studentOptions(first, teachers));
    await b.trainEpoch(batchesFor(0));
    await saveCheckpoint(dir, await b.getState(), { note: "epoch 0 done" });
    b.dispose();
    first.dispose();
    assert(await hasCheckpoint(dir));

    // a differently initialised model: only the checkpoint can make it equal
    const resumed = tinyStudent(1234, 2);
    const c = new Trainer(studentOptions(resumed, teachers));
    const loaded = await loadCheckpoint(dir);
    assertEquals(loaded.extra, { note: "epoch 0 done" });
    c.setState(loaded.state);
    assertEquals(c.epoch, 1);
    await c.trainEpoch(batchesFor(c.epoch));
    assertEquals(weightValues(resumed), weightValues(straight));
    assertEquals(
      await c.optimizer.getState(),
      await a.optimizer.getState(),
    );
    c.dispose();
    resumed.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  a.dispose();
  disposeModels(straight, ...teachers);
});

Deno.test("resume mid-epoch: an abort between steps, then restore, ends identical", async () => {
  const teachers = [tinyTeacher(41), tinyTeacher(42)];
  const straight = tinyStudent(13, 2);
  const a = new Trainer(studentOptions(straight, teachers));
  const fullEpoch0 = await a.trainEpoch(batchesFor(0));
  const fullEpoch1 = await a.trainEpoch(batchesFor(1));

  const interrupted = tinyStudent(13, 2);
  const b = new Trainer(studentOptions(interrupted, teachers));
  const controller = new AbortController();
  const partial = await b.trainEpoch(batchesFor(0), {
    signal: controller.signal,
    onStep: (p) => {
      if (p.step === 4) controller.abort();
    },
  });
  assertEquals(partial.completed, false);
  assertEquals(partial.steps, 4);
  assertEquals(b.epoch, 0);
  assertEquals(b.stepInEpoch, 4);
  const state = await b.getState();
  b.dispose();

  const resumed = tinyStudent(99, 2);
  const c = new Trainer(studentOptions(resumed, teachers));
  c.setState(state);
  const rest0 = await c.trainEpoch(batchesFor(c.epoch));
  assertEquals(rest0.completed, true);
  // the epoch's mean covers the steps before the interruption too
  assertEquals(rest0.images, 48);
  assert(Math.abs(rest0.loss - fullEpoch0.loss) < 1e-9);
  const rest1 = await c.trainEpoch(batchesFor(c.epoch));
  assertEquals(rest1.loss, fullEpoch1.loss);
  assertEquals(weightValues(resumed), weightValues(straight));
  c.dispose();
  a.dispose();
  disposeModels(straight, interrupted, resumed, ...teachers);
});

Deno.test("checkpoints: corrupt, missing, foreign or mismatched ones are refused by name", async () => {
  const model = tinyStudent(3, 1);
  const trainer = new Trainer({ model, seed: SEED });
  const dir = await Deno.makeTempDir({ prefix: "distill_ckpt_" });
  try {
    await assertRejects(() => loadCheckpoint(dir), Error, "not found");
    await saveCheckpoint(dir, await trainer.getState());
    // corrupt, cut and foreign checkpoint files: checkpoint_test.ts
    const loaded = await loadCheckpoint(dir);
    assertEquals(loaded.state.seed, SEED);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // a state from another architecture or seed
  const other = tinyStudent(3, 2);
  const otherTrainer = new Trainer({ model: other, seed: SEED });
  const otherState = await otherTrainer.getState();
  const mismatch = assertThrows(
    () => trainer.setState(otherState),
    DistillError,
    "weights",
  );
  assertEquals(mismatch.code, "mismatch");
  const state = await trainer.getState();
  assertThrows(
    () => new Trainer({ model: tinyStudent(3, 1), seed: 6 }).setState(state),
    DistillError,
    "seed 5",
  );
  const options = assertThrows(
    () => new Trainer({ model, loss: { kind: "multi" } }),
    DistillError,
    "needs a teacher logit source",
  );
  assertEquals(options.code, "bad-options");
  trainer.dispose();
  otherTrainer.dispose();
  disposeModels(model, other);
});

Deno.test("a student whose heads do not fit the teachers fails early, without leaks", async () => {
  const model = tinyStudent(3, 1);
  const teachers = [tinyTeacher(1), tinyTeacher(2)];
  assertThrows(
    () => new Trainer(studentOptions(model, teachers)),
    Error,
    "expects 3 model heads",
  );
  // a source that lies about its teacher count is caught at the step
  const lying = new LiveTeacherSource(teachers);
  Object.defineProperty(lying, "teacherCount", { value: 1 });
  const trainer = new Trainer({
    ...studentOptions(model, teachers),
    teachers: lying,
    loss: { kind: "multi" },
  });
  const before = tf.memory().numTensors;
  await assertRejects(
    () => trainer.trainEpoch(batchesFor(0)),
    Error,
    "expects 3 model heads",
  );
  assertEquals(tf.memory().numTensors, before);
  assertEquals(trainer.stepInEpoch, 0);
  trainer.dispose();
  disposeModels(model, ...teachers);
});

Deno.test("hard and ensemble objectives train through the loop; an aborted signal stops before any step", async () => {
  const teachers = [tinyTeacher(61), tinyTeacher(62)];
  for (
    const [kind, heads] of [["hard", 2], ["ensemble", 1]] as const
  ) {
    const model = tinyStudent(17, heads);
    const trainer = new Trainer({
      ...studentOptions(model, teachers),
      loss: { kind, tau: 1 },
    });
    const result = await trainer.trainEpoch(batchesFor(0));
    assert(Number.isFinite(result.loss) && result.loss > 0, `${kind}`);
    assertEquals(result.steps, 6);
    trainer.dispose();
    model.dispose();
  }
  const model = tinyStudent(17, 2);
  const trainer = new Trainer(studentOptions(model, teachers));
  const before = weightValues(model);
  const stopped = await trainer.trainEpoch(batchesFor(0), {
    signal: AbortSignal.abort(),
  });
  assertEquals(stopped.completed, false);
  assertEquals(stopped.steps, 0);
  assertEquals(trainer.epoch, 0);
  assertEquals(weightValues(model), before);
  trainer.dispose();
  disposeModels(model, ...teachers);
});

Deno.test("a non-finite loss is reported, by step, when the losses are read", async () => {
  const model = tinyStudent(3, 1);
  const trainer = new Trainer({ model, seed: SEED, readEvery: 2 });
  const before = tf.memory().numTensors;
  async function* poisoned() {
    let i = 0;
    for await (const batch of batchesFor(0)) {
      if (++i === 3) {
        const x = tf.fill(batch.x.shape, NaN) as tf.Tensor4D;
        batch.x.dispose();
        yield { ...batch, x };
      } else yield batch;
    }
  }
  const diverged = await assertRejects(
    () => trainer.trainEpoch(poisoned()),
    DistillError,
    "the loss is NaN at epoch 1 step 3",
  );
  assertEquals(diverged.code, "diverged");
  assertThrows(
    () => new Trainer({ model, readEvery: 0 }),
    Error,
    "readEvery must be a whole number >= 1",
  );
  trainer.dispose();
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});
