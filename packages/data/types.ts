/**
 * A labelled image data set held in memory: `count` uint8 NHWC images.
 */
export interface ImageDataset {
  /** Human-readable name, e.g. `"mnist-train"`. */
  name: string;
  /** Pixels, `count * height * width * channels` bytes, NHWC order. */
  images: Uint8Array;
  /** One class index per image, in `[0, classNames.length)`. */
  labels: Int32Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** Channels per pixel: 1 (grey) or 3 (RGB). */
  channels: number;
  /** Class names; index `k` names label `k`. */
  classNames: string[];
  /** Content hash of what was loaded, plus any subset spec. */
  fingerprint: string;
}

/** Per-channel mean and standard deviation of pixels in `[0, 1]` units. */
export interface Normalization {
  /** Mean per channel. */
  mean: number[];
  /** Standard deviation per channel. */
  std: number[];
}

/** Height, width and channels of one image. */
export interface ImageShape {
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** Channels per pixel. */
  channels: number;
}

/** One decoded image: `height * width * channels` uint8 pixels, HWC. */
export interface DecodedImage extends ImageShape {
  /** Pixels, row-major, channels interleaved. */
  data: Uint8Array;
}

/** Called as work advances; `done` of `total` items. */
export type ProgressCallback = (
  progress: { done: number; total: number },
) => void;

/** Which part of a data set to load. */
export type Split = "train" | "test";
