// Pure decode-and-resize of an uploaded image: what a decode worker runs.
// It imports only the image functions of @vitkd/data (no tfjs), so that a
// worker starts quickly and small.
import { convertChannels, decodeImage, resizeImage } from "@vitkd/data/image";

/** The model's input size and channels. */
export interface ImageTarget {
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** 1 (grey) or 3 (RGB). */
  channels: number;
}

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

/**
 * Decodes PNG or JPEG bytes, converts them to grey or RGB as the model needs
 * and resizes them (bilinear, antialiased) to its input size, exactly as
 * training saw its images.
 *
 * @throws {Error} naming `source` for corrupt or truncated data
 */
export function decodeUpload(
  bytes: Uint8Array,
  target: ImageTarget,
  source: string,
): PreparedImage {
  if (target.channels !== 1 && target.channels !== 3) {
    throw new Error(
      `model input has ${target.channels} channels; expected 1 or 3`,
    );
  }
  const decoded = decodeImage(bytes, source);
  const converted = convertChannels(decoded, target.channels);
  const resized = resizeImage(converted, target.width, target.height);
  return {
    pixels: resized.data,
    original: {
      format: bytes[0] === 0x89 ? "png" : "jpeg",
      width: decoded.width,
      height: decoded.height,
      channels: decoded.channels,
    },
  };
}
