import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { DataError } from "./errors.ts";
import {
  computeNormalization,
  normalizeImages,
  normalizeToFloat32,
} from "./normalize.ts";
import type { ImageDataset } from "./types.ts";

function dataset(images: number[], channels: number): ImageDataset {
  const count = images.length / channels;
  return {
    name: "t",
    images: new Uint8Array(images),
    labels: new Int32Array(count),
    count,
    height: 1,
    width: 1,
    channels,
    classNames: ["a"],
    fingerprint: "x",
  };
}

Deno.test("computeNormalization: per-channel mean and population std in [0,1] units", () => {
  const norm = computeNormalization(dataset([0, 255, 51, 255, 255, 51], 3));
  assertAlmostEquals(norm.mean[0], 0.5, 1e-9);
  assertAlmostEquals(norm.std[0], 0.5, 1e-9);
  assertAlmostEquals(norm.mean[1], 1, 1e-9);
  assertAlmostEquals(norm.std[1], 0, 1e-9);
  assertAlmostEquals(norm.mean[2], 0.2, 1e-9);
  const grey = computeNormalization(dataset([0, 255, 255, 255], 1));
  assertAlmostEquals(grey.mean[0], 0.75, 1e-9);
  assertAlmostEquals(grey.std[0], Math.sqrt(3) / 4, 1e-9);
});

Deno.test("normalizeImages: x = (p/255 - mean)/std as a float32 NHWC tensor", async () => {
  await tf.setBackend("cpu");
  const norm = { mean: [0.5, 0.25], std: [0.5, 0.25] };
  const t = normalizeImages(new Uint8Array([0, 255, 255, 0]), 2, 1, 1, 2, norm);
  assertEquals(t.shape, [2, 1, 1, 2]);
  assertEquals(t.dtype, "float32");
  const values = await t.data();
  t.dispose();
  assertAlmostEquals(values[0], -1, 1e-6);
  assertAlmostEquals(values[1], 3, 1e-6);
  assertAlmostEquals(values[2], 1, 1e-6);
  assertAlmostEquals(values[3], -1, 1e-6);
  assertThrows(
    () => normalizeImages(new Uint8Array(3), 2, 1, 1, 2, norm),
    DataError,
    "expected 2x1x1x2",
  );
  assertThrows(
    () => normalizeToFloat32(new Uint8Array(2), 2, { mean: [0], std: [1] }),
    DataError,
  );
  assertThrows(
    () => normalizeToFloat32(new Uint8Array(1), 1, { mean: [0], std: [0] }),
    DataError,
  );
});
