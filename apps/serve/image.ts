import { convertChannels, decodeImage, resizeImage } from "@vitkd/data";
import { HttpError } from "./errors.ts";
import { probeImageHeader } from "./image_probe.ts";

/** An uploaded image made ready for the model. */
export interface PreparedImage {
  /** `height * width * channels` uint8 pixels at the model's input size. */
  pixels: Uint8Array;
  /** The upload as it came: format and size. */
  original: {
    format: "png" | "jpeg";
    width: number;
    height: number;
    channels: number;
  };
}

/** The model's input size and channels. */
export interface ImageTarget {
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** 1 (grey) or 3 (RGB). */
  channels: number;
}

/**
 * Turns uploaded PNG or JPEG bytes into the model's input pixels exactly as
 * training saw them: decoded, converted to grey or RGB as the model needs and
 * resized (bilinear) to its input size. Refuses, as an {@linkcode HttpError}
 * naming `source`, an empty body, a non-image, an image over `maxPixels`
 * (checked from the header, before decoding) and a corrupt or truncated image.
 */
export function prepareUpload(
  bytes: Uint8Array,
  target: ImageTarget,
  maxPixels: number,
  source: string,
): PreparedImage {
  if (bytes.length === 0) {
    throw new HttpError(
      400,
      `${source}: empty body: expected a PNG or JPEG image`,
    );
  }
  let header;
  try {
    header = probeImageHeader(bytes);
  } catch (error) {
    throw new HttpError(400, `${source}: ${(error as Error).message}`);
  }
  if (header.width === 0 || header.height === 0) {
    throw new HttpError(
      400,
      `${source}: image has no pixels (${header.width}x${header.height})`,
    );
  }
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new HttpError(
      413,
      `${source}: image is ${header.width}x${header.height} = ${pixels} pixels, over the limit of ${maxPixels} (--max-pixels)`,
    );
  }
  let decoded;
  try {
    decoded = decodeImage(bytes, source);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  if (target.channels !== 1 && target.channels !== 3) {
    throw new Error(
      `model input has ${target.channels} channels; expected 1 or 3`,
    );
  }
  const converted = convertChannels(decoded, target.channels);
  const resized = resizeImage(converted, target.width, target.height);
  return {
    pixels: resized.data,
    original: {
      format: header.format,
      width: decoded.width,
      height: decoded.height,
      channels: decoded.channels,
    },
  };
}
