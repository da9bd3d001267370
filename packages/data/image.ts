/**
 * Image decoding and resizing, the low-level part of `@vitkd/data`: sniff a
 * PNG or JPEG, decode it to uint8 HWC pixels, convert channels and resize
 * with an area filter. Decoding checks the header's dimensions first.
 *
 * ```ts
 * import { sniffImageFormat } from "@vitkd/data/image";
 *
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
 * console.log(sniffImageFormat(png)); // "png"
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DataError } from "./errors.ts";
import type { DecodedImage } from "./types.ts";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The image format `bytes` start with, or `undefined` if unknown. */
export function sniffImageFormat(
  bytes: Uint8Array,
): "png" | "jpeg" | undefined {
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  return undefined;
}

/** Number of colour components in a JPEG's start-of-frame header. */
function jpegComponents(bytes: Uint8Array): number | undefined {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc)
    if (
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 &&
      marker !== 0xc8 && marker !== 0xcc
    ) {
      return bytes[i + 9];
    }
    i += 2 + length;
  }
  return undefined;
}

/**
 * Decodes a PNG or JPEG (sniffed from the magic bytes) into 8-bit pixels:
 * 1 channel for greyscale sources, else 3 (an alpha channel is dropped).
 * Throws `DataError` for unknown, truncated or corrupt data; `source` names
 * the file in the message.
 */
export function decodeImage(bytes: Uint8Array, source = "image"): DecodedImage {
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    const head = Array.from(
      bytes.subarray(0, 4),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    throw new DataError(
      `unknown image format: expected PNG (89 50 4e 47) or JPEG (ff d8 ff) magic bytes, found "${head}" (${bytes.length} bytes)`,
      source,
    );
  }
  return format === "png"
    ? decodePng(bytes, source)
    : decodeJpeg(bytes, source);
}

function decodePng(bytes: Uint8Array, source: string): DecodedImage {
  let png;
  try {
    png = PNG.sync.read(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length),
    );
  } catch (error) {
    throw new DataError(
      `corrupt or truncated PNG: ${(error as Error).message}`,
      source,
      { cause: error },
    );
  }
  const { width, height } = png;
  const rgba = png.data as Uint8Array;
  if (rgba.length !== width * height * 4) {
    throw new DataError(
      `corrupt PNG: ${rgba.length} decoded bytes for ${width}x${height}`,
      source,
    );
  }
  // colour types 0 and 4 are greyscale (without and with alpha)
  const colorType = (png as unknown as { colorType?: number }).colorType ??
    bytes[25];
  const channels = colorType === 0 || colorType === 4 ? 1 : 3;
  const data = new Uint8Array(width * height * channels);
  for (let p = 0, q = 0; p < width * height; p++, q += 4) {
    if (channels === 1) data[p] = rgba[q];
    else {
      data[p * 3] = rgba[q];
      data[p * 3 + 1] = rgba[q + 1];
      data[p * 3 + 2] = rgba[q + 2];
    }
  }
  return { width, height, channels, data };
}

function decodeJpeg(bytes: Uint8Array, source: string): DecodedImage {
  let decoded;
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // a truncated file must fail, not decode into grey blocks
      tolerantDecoding: false,
      maxMemoryUsageInMB: 1024,
    });
  } catch (error) {
    throw new DataError(
      `corrupt or truncated JPEG: ${(error as Error).message ?? error}`,
      source,
      { cause: error },
    );
  }
  const { width, height } = decoded;
  const rgb = decoded.data as Uint8Array;
  if (!width || !height || rgb.length !== width * height * 3) {
    throw new DataError(
      `corrupt JPEG: ${rgb.length} decoded bytes for ${width}x${height}`,
      source,
    );
  }
  if (jpegComponents(bytes) === 1) {
    const grey = new Uint8Array(width * height);
    for (let p = 0; p < grey.length; p++) grey[p] = rgb[p * 3];
    return { width, height, channels: 1, data: grey };
  }
  return { width, height, channels: 3, data: rgb };
}

/**
 * Converts between greyscale and RGB: grey -> RGB repeats the value, RGB ->
 * grey uses ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), rounded.
 */
export function convertChannels(
  image: DecodedImage,
  channels: 1 | 3,
): DecodedImage {
  if (image.channels === channels) return image;
  const pixels = image.width * image.height;
  const data = new Uint8Array(pixels * channels);
  if (image.channels === 1 && channels === 3) {
    for (let p = 0; p < pixels; p++) {
      const v = image.data[p];
      data[p * 3] = v;
      data[p * 3 + 1] = v;
      data[p * 3 + 2] = v;
    }
  } else if (image.channels === 3 && channels === 1) {
    for (let p = 0; p < pixels; p++) {
      const q = p * 3;
      data[p] = Math.round(
        0.299 * image.data[q] + 0.587 * image.data[q + 1] +
          0.114 * image.data[q + 2],
      );
    }
  } else {
    throw new DataError(
      `cannot convert ${image.channels} channels to ${channels}; expected 1 or 3`,
    );
  }
  return { width: image.width, height: image.height, channels, data };
}

/** Weights of a triangle (bilinear) filter along one axis. */
function axisWeights(
  inSize: number,
  outSize: number,
): {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  taps: number;
} {
  const scale = inSize / outSize;
  // widen the filter when shrinking so that every source pixel contributes
  const support = Math.max(scale, 1);
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize, Math.ceil(center + support));
    let total = 0;
    let n = 0;
    for (let i = lo; i < hi && n < taps; i++, n++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      weights[o * taps + n] = w;
      total += w;
    }
    if (total === 0) {
      // upsampling at the border: fall back to the nearest pixel
      const nearest = Math.min(inSize - 1, Math.max(0, Math.floor(center)));
      first[o] = nearest;
      count[o] = 1;
      weights[o * taps] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[o * taps + k] /= total;
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weights, taps };
}

/**
 * Bytes of working memory {@linkcode resizeImage} allocates to resize a
 * `inWidth` x `inHeight` image of `channels` channels to `outWidth` x
 * `outHeight`: the two axes' filter tables and the intermediate float rows.
 * A server checks it from the image header, before decoding, because a very
 * long and thin image needs tables far larger than its pixels.
 */
export function resizeWorkBytes(
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  channels: number,
): number {
  if (inWidth === outWidth && inHeight === outHeight) return 0;
  const table = (inSize: number, outSize: number) => {
    const taps = Math.ceil(Math.max(inSize / outSize, 1)) * 2 + 1;
    // first + count (Int32) and the weights (Float64)
    return outSize * (8 + taps * 8);
  };
  return table(inWidth, outWidth) + table(inHeight, outHeight) +
    inHeight * outWidth * channels * 8;
}

/**
 * Resizes with a bilinear (triangle) filter and half-pixel centres; when
 * shrinking, the filter widens to cover the source (antialiased, like PIL's
 * bilinear), so a large photo scaled to 32x32 does not alias.
 */
export function resizeImage(
  image: DecodedImage,
  width: number,
  height: number,
): DecodedImage {
  if (
    !Number.isInteger(width) || !Number.isInteger(height) || width < 1 ||
    height < 1
  ) {
    throw new DataError(
      `resize target must be positive integers, got ${width}x${height}`,
    );
  }
  if (image.width === width && image.height === height) return image;
  const c = image.channels;
  const xs = axisWeights(image.width, width);
  const ys = axisWeights(image.height, height);
  // horizontal pass into floats, then vertical pass with rounding
  const mid = new Float64Array(image.height * width * c);
  for (let y = 0; y < image.height; y++) {
    const row = y * image.width * c;
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * c;
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let k = 0; k < xs.count[x]; k++) {
          sum += xs.weights[x * xs.taps + k] *
            image.data[row + (xs.first[x] + k) * c + ch];
        }
        mid[out + ch] = sum;
      }
    }
  }
  const data = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * c;
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let k = 0; k < ys.count[y]; k++) {
          sum += ys.weights[y * ys.taps + k] *
            mid[((ys.first[y] + k) * width + x) * c + ch];
        }
        data[out + ch] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return { width, height, channels: c, data };
}

/**
 * Decodes, converts to `channels` and resizes to `width` x `height`: what a
 * server does to an uploaded image before normalising it.
 */
export function prepareImage(
  bytes: Uint8Array,
  target: { width: number; height: number; channels: 1 | 3 },
  source = "image",
): DecodedImage {
  const decoded = decodeImage(bytes, source);
  return resizeImage(
    convertChannels(decoded, target.channels),
    target.width,
    target.height,
  );
}
