// The loop with the real models of @vitkd/models, at tiny sizes.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { computeNormalization } from "@vitkd/data";
import { buildModel } from "@vitkd/models";
import { evaluate, trainingBatches } from "./batches.ts";
import { Trainer } from "./loop.ts";
import { cosineSchedule } from "./schedule.ts";
import { LiveTeacherSource } from "./teacher_source.ts";
import {
  CLASSES,
  disposeModels,
  syntheticDataset,
  weightValues,
} from "./_test_utils.ts";

await initBackend({ backend: "cpu" });

const train = syntheticDataset(24, 4);
const normalization = computeNormalization(train);
const SEED = 3;
const common = {
  inputShape: [8, 8, 1] as [number, number, number],
  numClasses: CLASSES,
};

const resnet = () =>
  buildModel("resnet8", { ...common, widths: [4, 8, 8], seed: 1 });
const rednet = () =>
  buildModel("rednet8", {
    ...common,
    widths: [4, 8, 8],
    groupChannels: 4,
    reductionRatio: 2,
    seed: 2,
  });
const vit = (seed: number) =>
  buildModel("vit-tiny", {
    ...common,
    dim: 16,
    depth: 1,
    numHeads: 2,
    mlpDim: 16,
    patchSize: 4,
    numDistillationTokens: 2,
    seed,
  });

const batchesFor = (epoch: number) =>
  trainingBatches(train, {
    batchSize: 8,
    seed: SEED,
    epoch,
    normalization,
    augment: { padding: 1, flip: false },
    views: { views: 2, baseSeed: 9 },
  });

Deno.test("teacher resume restores batch-norm statistics: 1 + 1 epochs equal 2", async () => {
  const straight = resnet();
  const a = new Trainer({
    model: straight,
    loss: { kind: "none" },
    seed: SEED,
  });
  await a.trainEpoch(batchesFor(0));
  await a.trainEpoch(batchesFor(1));

  const first = resnet();
  const b = new Trainer({ model: first, loss: { kind: "none" }, seed: SEED });
  await b.trainEpoch(batchesFor(0));
  const state = await b.getState();
  // the moving statistics are part of the state and changed in training
  const fresh = resnet();
  const movingIndex = fresh.weights.findIndex((w) =>
    w.name.includes("moving_mean")
  );
  assert(movingIndex >= 0);
  assert(
    Array.from(state.weights[movingIndex].data).some((v, i) =>
      v !== fresh.weights[movingIndex].read().dataSync()[i]
    ),
  );
  const c = new Trainer({ model: fresh, loss: { kind: "none" }, seed: SEED });
  c.setState(state);
  await c.trainEpoch(batchesFor(1));
  assertEquals(weightValues(fresh), weightValues(straight));
  for (const t of [a, b, c]) t.dispose();
  disposeModels(straight, first, fresh);
});

Deno.test("a tiny ViT distils from ResNet + RedNet teachers without leaks; every head evaluated", async () => {
  const teachers = [resnet(), rednet()];
  const student = vit(5);
  const trainer = new Trainer({
    model: student,
    teachers: new LiveTeacherSource(teachers),
    loss: { kind: "multi", tau: 1 },
    optimizer: { learningRate: 3e-3 },
    schedule: cosineSchedule({
      baseLearningRate: 3e-3,
      totalSteps: 9,
      warmupSteps: 3,
    }),
    clipNorm: 1,
    seed: SEED,
  });
  const first = await trainer.trainEpoch(batchesFor(0));
  assert(Number.isFinite(first.loss));
  const before = tf.memory().numTensors;
  await trainer.trainEpoch(batchesFor(1));
  assertEquals(tf.memory().numTensors, before);
  const result = await evaluate(
    student,
    syntheticDataset(12, 6),
    normalization,
  );
  assertEquals(result.heads.length, 3);
  assertEquals(result.count, 12);
  assert(result.heads.every((a) => a >= 0 && a <= 1));
  trainer.dispose();
  disposeModels(student, ...teachers);
});
