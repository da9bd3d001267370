// Small real data and teachers for this package's tests.
import * as tf from "@tensorflow/tfjs";
import type { ImageDataset } from "@vitkd/data";
import {
  type PrecomputeOptions,
  type StoreTeacher,
  storeTeacherFromModel,
} from "./precompute.ts";

/** A deterministic data set of `count` random 8x8 RGB images, 10 classes. */
export function tinyDataset(count = 40): ImageDataset {
  const h = 8, w = 8, c = 3;
  const images = new Uint8Array(count * h * w * c);
  let s = 99;
  for (let i = 0; i < images.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    images[i] = s >>> 24;
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = (i * 7) % 10;
  return {
    name: "tiny",
    images,
    labels,
    count,
    height: h,
    width: w,
    channels: c,
    classNames: Array.from({ length: 10 }, (_, i) => `class${i}`),
    fingerprint: "fnv1a64:00000000deadbeef",
  };
}

/** Two small real teachers: a conv net and a dense net, seeded weights. */
export function tinyTeachers(): StoreTeacher[] {
  const cnn = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 3],
        filters: 4,
        kernelSize: 3,
        activation: "relu",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 10,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
  const mlp = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [8, 8, 3] }),
      tf.layers.dense({
        units: 10,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
    ],
  });
  return [
    storeTeacherFromModel(cnn, {
      name: "cnn",
      kind: "cnn",
      fingerprint: "w:cnn-1",
    }),
    storeTeacherFromModel(mlp, {
      name: "mlp",
      kind: "mlp",
      fingerprint: "w:mlp-1",
    }),
  ];
}

/** Precompute options for the tiny set, writing to `path`. */
export function tinyOptions(
  path: string,
  dataset: ImageDataset,
  teachers: StoreTeacher[],
  over: Partial<PrecomputeOptions> = {},
): PrecomputeOptions {
  return {
    path,
    dataset,
    teachers,
    views: 3,
    augmentation: { padding: 2, flip: true },
    baseSeed: 1234,
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    encoding: { kind: "dense", dtype: "float32" },
    batchSize: 7,
    chunkImages: 8,
    ...over,
  };
}
