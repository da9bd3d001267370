import { DataError } from "./errors.ts";
import { createRng } from "./rng.ts";
import type { ImageShape } from "./types.ts";

/**
 * What `augmentImage` does. Only `padding` and `flip` are required; every
 * extra is off when absent.
 */
export interface AugmentSpec {
  /** Random crop of the original size from the image zero-padded by this many pixels per side. */
  padding: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
  /** Multiply pixels by a factor drawn from `[1 - brightness, 1 + brightness]`. */
  brightness?: number;
  /** Scale distances from the image's mean by a factor from `[1 - contrast, 1 + contrast]`. */
  contrast?: number;
  /** Random erasing: with `probability`, fill a rectangle of `minArea..maxArea` of the image with random pixels. */
  erasing?: { probability: number; minArea?: number; maxArea?: number };
}

/** The random choices behind one augmented view (useful for logging or storage). */
export interface AugmentView {
  /** Crop offset in the padded image, `0..2*padding`. */
  offsetX: number;
  /** Crop offset in the padded image, `0..2*padding`. */
  offsetY: number;
  /** Whether the view is mirrored left-right. */
  flip: boolean;
  /** Brightness factor (1 = unchanged). */
  brightness: number;
  /** Contrast factor (1 = unchanged). */
  contrast: number;
  /** Erased rectangle in output coordinates, if any. */
  erase?: { x: number; y: number; width: number; height: number };
  /** Seed of the erased pixels' values. */
  eraseSeed: number;
}

/** Data set kinds known to `defaultAugmentation`. */
export type AugmentationKind =
  | "mnist"
  | "fashion-mnist"
  | "idx"
  | "cifar10-folder"
  | "cifar-binary"
  | "image-folder";

/**
 * The default augmentation for a data set kind: digits (MNIST and generic
 * IDX) get padding 2 and no flip, since a mirrored digit is another glyph;
 * Fashion-MNIST padding 2 with flip; CIFAR and image folders padding 4 with
 * flip.
 */
export function defaultAugmentation(
  kind: AugmentationKind | string,
): AugmentSpec {
  switch (kind) {
    case "mnist":
    case "idx":
      return { padding: 2, flip: false };
    case "fashion-mnist":
      return { padding: 2, flip: true };
    case "cifar10-folder":
    case "cifar-binary":
    case "cifar10":
    case "cifar100":
    case "image-folder":
      return { padding: 4, flip: true };
    default:
      throw new DataError(
        `unknown data set kind "${kind}" for defaultAugmentation; expected one of mnist, fashion-mnist, idx, cifar10-folder, cifar-binary, image-folder`,
      );
  }
}

function shapeOf(
  shape: ImageShape | readonly [number, number, number],
): ImageShape {
  return Array.isArray(shape)
    ? { height: shape[0], width: shape[1], channels: shape[2] }
    : shape as ImageShape;
}

/**
 * The random choices of the view with `seed`. Every number is drawn whatever
 * the spec enables, in a fixed order, so that turning an extra on or off does
 * not move the crop and flip of other views.
 */
export function describeView(
  shape: ImageShape | readonly [number, number, number],
  spec: AugmentSpec,
  seed: number,
): AugmentView {
  const { height, width } = shapeOf(shape);
  const rng = createRng(seed >>> 0);
  const p = Math.max(0, Math.floor(spec.padding));
  const offsetX = rng.nextInt(2 * p + 1);
  const offsetY = rng.nextInt(2 * p + 1);
  const flip = rng.next() < 0.5;
  const brightnessDraw = rng.uniform(-1, 1);
  const contrastDraw = rng.uniform(-1, 1);
  const eraseDraw = rng.next();
  const areaDraw = rng.next();
  const aspectDraw = rng.uniform(Math.log(0.3), Math.log(1 / 0.3));
  const xDraw = rng.next();
  const yDraw = rng.next();
  const eraseSeed = rng.nextUint32();

  const view: AugmentView = {
    offsetX,
    offsetY,
    flip: spec.flip && flip,
    brightness: 1 + (spec.brightness ?? 0) * brightnessDraw,
    contrast: 1 + (spec.contrast ?? 0) * contrastDraw,
    eraseSeed,
  };
  const erasing = spec.erasing;
  if (erasing && eraseDraw < erasing.probability) {
    const minArea = erasing.minArea ?? 0.02;
    const maxArea = erasing.maxArea ?? 1 / 3;
    const area = (minArea + (maxArea - minArea) * areaDraw) * height * width;
    const aspect = Math.exp(aspectDraw);
    const eh = Math.min(
      height,
      Math.max(1, Math.round(Math.sqrt(area * aspect))),
    );
    const ew = Math.min(
      width,
      Math.max(1, Math.round(Math.sqrt(area / aspect))),
    );
    view.erase = {
      x: Math.floor(xDraw * (width - ew + 1)),
      y: Math.floor(yDraw * (height - eh + 1)),
      width: ew,
      height: eh,
    };
  }
  return view;
}

/**
 * Writes the augmented view of the image at `src[srcOffset..]` into
 * `dst[dstOffset..]` (same shape); no allocation beyond the view's choices.
 */
export function augmentInto(
  src: Uint8Array,
  srcOffset: number,
  shape: ImageShape | readonly [number, number, number],
  spec: AugmentSpec,
  seed: number,
  dst: Uint8Array,
  dstOffset: number,
): AugmentView {
  const { height, width, channels } = shapeOf(shape);
  const view = describeView({ height, width, channels }, spec, seed);
  const p = Math.max(0, Math.floor(spec.padding));
  const shiftX = view.offsetX - p;
  const shiftY = view.offsetY - p;
  const rowBytes = width * channels;
  for (let y = 0; y < height; y++) {
    const sy = y + shiftY;
    const outRow = dstOffset + y * rowBytes;
    if (sy < 0 || sy >= height) {
      dst.fill(0, outRow, outRow + rowBytes);
      continue;
    }
    const inRow = srcOffset + sy * rowBytes;
    for (let x = 0; x < width; x++) {
      const sx = (view.flip ? width - 1 - x : x) + shiftX;
      const out = outRow + x * channels;
      if (sx < 0 || sx >= width) {
        for (let ch = 0; ch < channels; ch++) dst[out + ch] = 0;
      } else {
        const inp = inRow + sx * channels;
        for (let ch = 0; ch < channels; ch++) dst[out + ch] = src[inp + ch];
      }
    }
  }
  const size = height * rowBytes;
  if (view.brightness !== 1 || view.contrast !== 1) {
    let mean = 0;
    if (view.contrast !== 1) {
      for (let i = 0; i < size; i++) mean += dst[dstOffset + i];
      mean = mean / size * view.brightness;
    }
    for (let i = dstOffset; i < dstOffset + size; i++) {
      const v = mean + (dst[i] * view.brightness - mean) * view.contrast;
      dst[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  if (view.erase) {
    const fill = createRng(view.eraseSeed);
    const e = view.erase;
    for (let y = e.y; y < e.y + e.height; y++) {
      for (let x = e.x; x < e.x + e.width; x++) {
        const out = dstOffset + (y * width + x) * channels;
        for (let ch = 0; ch < channels; ch++) dst[out + ch] = fill.nextInt(256);
      }
    }
  }
  return view;
}

/**
 * The augmented view of one HWC uint8 image: a pure function of (image,
 * spec, seed); the same seed gives the same bytes on every run and machine.
 */
export function augmentImage(
  src: Uint8Array,
  shape: ImageShape | readonly [number, number, number],
  spec: AugmentSpec,
  seed: number,
): Uint8Array {
  const s = shapeOf(shape);
  const size = s.height * s.width * s.channels;
  if (src.length !== size) {
    throw new DataError(
      `augmentImage: image has ${src.length} bytes, expected ${s.height}x${s.width}x${s.channels} = ${size}`,
    );
  }
  const dst = new Uint8Array(size);
  augmentInto(src, 0, s, spec, seed, dst, 0);
  return dst;
}
