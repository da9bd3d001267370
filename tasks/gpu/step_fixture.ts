// One training step of the product (model forward and backward, the
// distillation objective, clipping, AdamW), set up the same way for the GPU
// benchmark and the GPU budget tests.
import * as tf from "@tensorflow/tfjs";
import {
  AdamW,
  readTrainSteps,
  trainStep,
  type TrainStepResult,
} from "@vitkd/distill";
import { buildModel } from "@vitkd/models";

/** A model ready to train on fresh host batches, as the trainer feeds it. */
export interface StepFixture {
  /** The model's registry name. */
  name: string;
  /** The model. */
  model: tf.LayersModel;
  /** Its optimizer. */
  optimizer: AdamW;
  /** Teachers the objective distills from (0 for the teachers themselves). */
  teachers: number;
  /** Host bytes of one batch's own inputs: images, labels, teacher logits. */
  batchBytes: number;
  /** Uploads one batch from host arrays and runs one step; nothing is read. */
  step(): TrainStepResult;
  /** Frees the model, the optimizer and the host batch. */
  dispose(): void;
}

/**
 * Builds `name` with a batch of `batchSize` random host images. A ViT with
 * distillation tokens trains on the multi-teacher objective with random
 * teacher logits; other models on cross-entropy.
 */
export function stepFixture(name: string, batchSize: number): StepFixture {
  const model = buildModel(name, { seed: 1 });
  const [h, w, c] = model.inputs[0].shape.slice(1) as number[];
  const classes = model.outputs[0].shape[1] as number;
  const teachers = model.outputs.length - 1;
  const pixels = new Float32Array(batchSize * h * w * c);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.37);
  const labels = Int32Array.from({ length: batchSize }, (_, i) => i % classes);
  const logits = Float32Array.from(
    { length: batchSize * classes },
    (_, i) => Math.cos(i * 0.11) * 3,
  );
  const optimizer = new AdamW(
    model.trainableWeights.map((v) => v.read()) as tf.Variable[],
    { learningRate: 1e-3, weightDecay: 0.05 },
  );
  return {
    name,
    model,
    optimizer,
    teachers,
    batchBytes: pixels.byteLength + labels.byteLength +
      teachers * logits.byteLength,
    step() {
      const x = tf.tensor4d(pixels, [batchSize, h, w, c]);
      const y = tf.tensor1d(labels, "int32");
      const teacherLogits = Array.from(
        { length: teachers },
        () => tf.tensor2d(logits, [batchSize, classes]),
      );
      try {
        return trainStep(model, optimizer, x, y, teacherLogits, {
          loss: { kind: teachers > 0 ? "multi" : "none" },
          learningRate: 1e-3,
          clipNorm: 5,
        });
      } finally {
        tf.dispose([x, y, ...teacherLogits]);
      }
    },
    dispose() {
      optimizer.dispose();
      model.dispose();
    },
  };
}

/** Runs `steps` steps and reads their losses once, at the end. */
export async function runSteps(
  fixture: StepFixture,
  steps: number,
): Promise<number[]> {
  const results: TrainStepResult[] = [];
  for (let i = 0; i < steps; i++) results.push(fixture.step());
  return (await readTrainSteps(results)).map((r) => r.loss);
}
