import { resizeWorkBytes } from "@vitkd/data/image";
import { toHttpError } from "./error_status.ts";
import { HttpError } from "./errors.ts";
import {
  decodeUpload,
  type ImageTarget,
  type PreparedImage,
} from "./image_decode.ts";
import { type ImageHeader, probeImageHeader } from "./image_probe.ts";

export type { ImageTarget, PreparedImage } from "./image_decode.ts";

/** What an upload may cost to decode; every bound is checked from the header. */
export interface ImageLimits {
  /** Most pixels (width x height). */
  maxPixels: number;
  /** Most `longer side / shorter side`. */
  maxAspectRatio: number;
  /** Most working memory of the resize (filter tables and float rows), bytes. */
  maxResizeBytes: number;
}

/**
 * Checks an upload from its header alone, before any pixel is decoded:
 * refuses, as an {@linkcode HttpError} naming `source`, an empty body or a
 * non-image (400), a header without pixels or a JPEG without a scan (400),
 * and an image over `maxPixels`, `maxAspectRatio` or whose resize would need
 * more than `maxResizeBytes` (413).
 */
export function checkUpload(
  bytes: Uint8Array,
  target: ImageTarget,
  limits: ImageLimits,
  source: string,
): ImageHeader {
  if (bytes.length === 0) {
    throw new HttpError(
      400,
      `${source}: empty body: expected a PNG or JPEG image`,
    );
  }
  let header: ImageHeader;
  try {
    header = probeImageHeader(bytes);
  } catch (error) {
    throw new HttpError(400, `${source}: ${(error as Error).message}`);
  }
  const { width, height } = header;
  if (width === 0 || height === 0) {
    throw new HttpError(
      400,
      `${source}: image has no pixels (${width}x${height})`,
    );
  }
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    throw new HttpError(
      413,
      `${source}: image is ${width}x${height} = ${pixels} pixels, over the limit of ${limits.maxPixels} (--max-pixels)`,
    );
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio > limits.maxAspectRatio) {
    throw new HttpError(
      413,
      `${source}: image is ${width}x${height}, an aspect ratio of ${
        ratio.toFixed(1)
      }, over the limit of ${limits.maxAspectRatio} (--max-aspect-ratio)`,
    );
  }
  const work = resizeWorkBytes(
    width,
    height,
    target.width,
    target.height,
    target.channels,
  );
  if (work > limits.maxResizeBytes) {
    throw new HttpError(
      413,
      `${source}: resizing ${width}x${height} to ${target.width}x${target.height} needs ${work} bytes of tables, over the limit of ${limits.maxResizeBytes}`,
    );
  }
  return header;
}

/**
 * {@linkcode checkUpload}, then {@linkcode decodeUpload} on the calling
 * thread; a corrupt or truncated image (a `DataError`) is a 400
 * {@linkcode HttpError}, as the server answers it. The server decodes in a
 * `DecodePool` instead; this is for scripts and tests.
 */
export function prepareUpload(
  bytes: Uint8Array,
  target: ImageTarget,
  limits: ImageLimits,
  source: string,
): PreparedImage {
  checkUpload(bytes, target, limits, source);
  try {
    return decodeUpload(bytes, target, source);
  } catch (error) {
    throw toHttpError(error);
  }
}
