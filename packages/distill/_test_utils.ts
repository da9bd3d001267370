// Small data and models shared by this package's tests.
import * as tf from "@tensorflow/tfjs";
import { createRng, type ImageDataset } from "@vitkd/data";

/** Classes of the synthetic data set. */
export const CLASSES = 3;

/**
 * `count` 8x8 grey images, class k = a bright 3x3 block at position k plus
 * noise: learnable in a few epochs by a dense layer.
 */
export function syntheticDataset(count: number, seed: number): ImageDataset {
  const rng = createRng(seed);
  const size = 8 * 8;
  const images = new Uint8Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % CLASSES;
    labels[i] = label;
    for (let p = 0; p < size; p++) {
      images[i * size + p] = Math.floor(rng.next() * 60);
    }
    const top = 1 + 2 * label;
    for (let y = top; y < top + 3; y++) {
      for (let x = top; x < top + 3; x++) {
        images[i * size + y * 8 + x] = 200 + Math.floor(rng.next() * 55);
      }
    }
  }
  return {
    name: `synthetic-${count}-${seed}`,
    images,
    labels,
    count,
    height: 8,
    width: 8,
    channels: 1,
    classNames: Array.from({ length: CLASSES }, (_, k) => `c${k}`),
    fingerprint: `synthetic:${count}:${seed}`,
  };
}

/** A one-layer teacher with seeded weights. */
export function tinyTeacher(seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [8, 8, 1] }),
      tf.layers.dense({
        units: CLASSES,
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        biasInitializer: tf.initializers.randomNormal({
          seed: seed + 1,
          stddev: 0.1,
        }),
      }),
    ],
  });
}

/** A student with a hidden layer and `1 + distillationHeads` heads, seeded. */
export function tinyStudent(
  seed: number,
  distillationHeads: number,
  dropout = 0,
): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  let h = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  h = tf.layers.dense({
    units: 16,
    activation: "relu",
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  }).apply(h) as tf.SymbolicTensor;
  if (dropout > 0) {
    h = tf.layers.dropout({ rate: dropout }).apply(h) as tf.SymbolicTensor;
  }
  const heads = Array.from(
    { length: 1 + distillationHeads },
    (_, i) =>
      tf.layers.dense({
        units: CLASSES,
        kernelInitializer: tf.initializers.glorotUniform({
          seed: seed + 10 + i,
        }),
      }).apply(h) as tf.SymbolicTensor,
  );
  return tf.model({ inputs: input, outputs: heads });
}

/** Every weight of `model`, flattened, for exact comparisons. */
export function weightValues(model: tf.LayersModel): number[][] {
  return model.weights.map((w) => Array.from(w.read().dataSync()));
}

/** Disposes every model's weights. */
export function disposeModels(...models: tf.LayersModel[]): void {
  for (const model of models) model.dispose();
}
