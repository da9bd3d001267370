// Helpers shared by this package's tests: small files written into temp dirs.
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { gzipSync } from "node:zlib";

/** An IDX file: big-endian magic 0x08xx, dims, then bytes. */
export function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x800 + dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Gzips bytes (for the gzipped-IDX path). */
export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

/** Encodes HWC pixels (1 or 3 channels) as PNG. */
export function encodePng(
  width: number,
  height: number,
  channels: 1 | 3,
  data: Uint8Array,
): Uint8Array {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    for (let ch = 0; ch < 3; ch++) {
      png.data[p * 4 + ch] = data[p * channels + (channels === 1 ? 0 : ch)];
    }
    png.data[p * 4 + 3] = 255;
  }
  const options = channels === 1
    ? { colorType: 0 as const, inputColorType: 6 as const }
    : { colorType: 2 as const, inputColorType: 6 as const };
  return new Uint8Array(PNG.sync.write(png, options));
}

/** Encodes RGB HWC pixels as a JPEG of the given quality. */
export function encodeJpeg(
  width: number,
  height: number,
  rgb: Uint8Array,
  quality = 95,
): Uint8Array {
  const rgba = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = rgb[p * 3];
    rgba[p * 4 + 1] = rgb[p * 3 + 1];
    rgba[p * 4 + 2] = rgb[p * 3 + 2];
    rgba[p * 4 + 3] = 255;
  }
  return new Uint8Array(
    jpeg.encode({ width, height, data: rgba }, quality).data,
  );
}

/** Deterministic test pixels. */
export function pattern(length: number, salt = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = (i * 37 + salt * 101 + (i >> 3)) & 255;
  }
  return out;
}
