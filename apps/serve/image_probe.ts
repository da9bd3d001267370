import { sniffImageFormat } from "@vitkd/data/image";

/** An image's format and size, read from its header without decoding it. */
export interface ImageHeader {
  /** `png` or `jpeg`. */
  format: "png" | "jpeg";
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * Reads width and height from a PNG IHDR or a JPEG start-of-frame segment, so
 * that oversized images are refused before a decoder allocates their pixels.
 * A JPEG must also reach its start of scan (SOS) with data after it.
 *
 * @throws {Error} for bytes that are not PNG or JPEG, or whose header is cut short
 */
export function probeImageHeader(bytes: Uint8Array): ImageHeader {
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw new Error(
      `not a PNG or JPEG image (first bytes ${hexPrefix(bytes)})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "png") {
    const ihdr = String.fromCharCode(...bytes.subarray(12, 16));
    if (bytes.length < 24 || ihdr !== "IHDR") {
      throw new Error("truncated PNG: no IHDR header");
    }
    return { format, width: view.getUint32(16), height: view.getUint32(20) };
  }
  // Walk the segments up to the start of scan: a decoder fills the image
  // from the scan, so a file without one (or cut before it) is no image even
  // if the decoder would return a blank frame for it.
  let frame: { width: number; height: number } | undefined;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) {
      throw new Error(`corrupt JPEG: expected a marker at byte ${at}`);
    }
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (
      marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)
    ) {
      at += 2;
      continue;
    }
    if (marker === 0xd9) break;
    const length = view.getUint16(at + 2);
    if (length < 2 || at + 2 + length > bytes.length) {
      throw new Error(
        `truncated JPEG: segment 0x${
          marker.toString(16)
        } at byte ${at} runs past the end of the file`,
      );
    }
    if (marker === 0xda) {
      if (!frame) {
        throw new Error("corrupt JPEG: scan before the frame header");
      }
      if (at + 2 + length >= bytes.length) {
        throw new Error("truncated JPEG: no scan data after the SOS header");
      }
      return { format, ...frame };
    }
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 &&
      marker !== 0xc8 && marker !== 0xcc;
    if (isFrame && !frame) {
      if (length < 8) throw new Error("corrupt JPEG: frame header too short");
      frame = { height: view.getUint16(at + 5), width: view.getUint16(at + 7) };
    }
    at += 2 + length;
  }
  throw new Error(
    frame
      ? "truncated or corrupt JPEG: no start-of-scan (SOS) marker"
      : "truncated or corrupt JPEG: no frame header found",
  );
}

function hexPrefix(bytes: Uint8Array): string {
  if (bytes.length === 0) return "none: empty body";
  return Array.from(
    bytes.subarray(0, 8),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join(" ");
}
