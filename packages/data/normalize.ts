import * as tf from "@tensorflow/tfjs";
import { DataError } from "./errors.ts";
import type { ImageDataset, Normalization } from "./types.ts";
import type { Tensor4D } from "./tf_types.ts";

/** MNIST training-set statistics (the usual 0.1307 / 0.3081). */
export const MNIST_NORMALIZATION: Normalization = Object.freeze({
  mean: [0.1307],
  std: [0.3081],
}) as Normalization;

/** Fashion-MNIST training-set statistics. */
export const FASHION_MNIST_NORMALIZATION: Normalization = Object.freeze({
  mean: [0.2860],
  std: [0.3530],
}) as Normalization;

/** CIFAR-10 training-set statistics (per-pixel std over the whole set). */
export const CIFAR10_NORMALIZATION: Normalization = Object.freeze({
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.2470, 0.2435, 0.2616],
}) as Normalization;

/** CIFAR-100 training-set statistics. */
export const CIFAR100_NORMALIZATION: Normalization = Object.freeze({
  mean: [0.5071, 0.4865, 0.4409],
  std: [0.2673, 0.2564, 0.2762],
}) as Normalization;

/** Per-channel mean and std of a data set's pixels, in `[0, 1]` units. */
export function computeNormalization(ds: ImageDataset): Normalization {
  const c = ds.channels;
  const expected = ds.count * ds.height * ds.width * c;
  if (ds.images.length !== expected || ds.count === 0) {
    throw new DataError(
      `computeNormalization: ${ds.name} has ${ds.images.length} pixel bytes, expected ${expected} (count ${ds.count}, non-zero)`,
    );
  }
  // integer histograms keep the sums exact and the loop cheap
  const histograms = Array.from({ length: c }, () => new Float64Array(256));
  const images = ds.images;
  if (c === 1) {
    const h = histograms[0];
    for (let i = 0; i < images.length; i++) h[images[i]]++;
  } else if (c === 3) {
    const [r, g, b] = histograms;
    for (let i = 0; i < images.length; i += 3) {
      r[images[i]]++;
      g[images[i + 1]]++;
      b[images[i + 2]]++;
    }
  } else {
    for (let i = 0; i < images.length; i += c) {
      for (let ch = 0; ch < c; ch++) histograms[ch][images[i + ch]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (const h of histograms) {
    let n = 0, sum = 0, sumSq = 0;
    for (let v = 0; v < 256; v++) {
      n += h[v];
      sum += h[v] * v;
      sumSq += h[v] * v * v;
    }
    const m = sum / n;
    const variance = Math.max(0, sumSq / n - m * m);
    mean.push(m / 255);
    std.push(Math.sqrt(variance) / 255);
  }
  return { mean, std };
}

function checkNormalization(norm: Normalization, channels: number): void {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new DataError(
      `normalization has ${norm.mean.length} means and ${norm.std.length} stds, expected ${channels} of each`,
    );
  }
  if (norm.std.some((s) => !(s > 0))) {
    throw new DataError(
      `normalization std must be positive, got [${norm.std.join(", ")}]`,
    );
  }
}

/**
 * Normalises uint8 NHWC pixels into `out` (allocated if absent):
 * `x = (p / 255 - mean[c]) / std[c]`. The CPU half of `normalizeImages`.
 */
export function normalizeToFloat32(
  u8: Uint8Array,
  channels: number,
  norm: Normalization,
  out: Float32Array = new Float32Array(u8.length),
): Float32Array {
  checkNormalization(norm, channels);
  // one lookup table per channel: 256 entries instead of a divide per pixel
  const tables = norm.mean.map((m, ch) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (v / 255 - m) / norm.std[ch];
    return t;
  });
  if (channels === 1) {
    const t = tables[0];
    for (let i = 0; i < u8.length; i++) out[i] = t[u8[i]];
  } else {
    for (let i = 0; i < u8.length; i += channels) {
      for (let ch = 0; ch < channels; ch++) {
        out[i + ch] = tables[ch][u8[i + ch]];
      }
    }
  }
  return out;
}

/**
 * Normalises `count` uint8 NHWC images into a float32 `[count, h, w, c]`
 * tensor; the same function serves training, precompute and serving.
 */
export function normalizeImages(
  u8: Uint8Array,
  count: number,
  height: number,
  width: number,
  channels: number,
  norm: Normalization,
): Tensor4D {
  const expected = count * height * width * channels;
  if (u8.length !== expected) {
    throw new DataError(
      `normalizeImages: got ${u8.length} bytes, expected ${count}x${height}x${width}x${channels} = ${expected}`,
    );
  }
  return tf.tensor4d(
    normalizeToFloat32(u8, channels, norm),
    [count, height, width, channels],
    "float32",
  );
}
