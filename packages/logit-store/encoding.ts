/**
 * How one teacher's logits for one view become bytes, the low-level part of
 * `@vitkd/logit-store`: dense float32 or float16 records, or the top-k
 * logits with their class indices.
 *
 * ```ts
 * import { describeEncoding, recordBytes } from "@vitkd/logit-store/encoding";
 *
 * const encoding = { kind: "topk", dtype: "float16", k: 5 } as const;
 * console.log(describeEncoding(encoding), recordBytes(encoding, 100));
 * ```
 *
 * @module
 */
import { LogitStoreError } from "./errors.ts";
import { FLOAT16_TABLE, float32ToFloat16Bits } from "./_float16.ts";

/** Floating-point type of stored values. */
export type StoreDtype = "float16" | "float32";

/**
 * How one teacher's logits for one view are stored: all `C` values (dense),
 * or the `k` largest with their class indices plus one fill logit (top-k).
 */
export type StoreEncoding =
  | { kind: "dense"; dtype: StoreDtype }
  | { kind: "topk"; dtype: StoreDtype; k: number };

// Typed-array views read the stored little-endian values directly only on a
// little-endian host (all current targets); elsewhere DataView is used.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function dtypeBytes(dtype: StoreDtype): number {
  return dtype === "float16" ? 2 : 4;
}

/** Bytes of one top-k class index: uint16 up to 65,536 classes, else uint32. */
export function indexBytes(numClasses: number): number {
  return numClasses <= 65536 ? 2 : 4;
}

/** Checks an encoding against a class count; throws a clear error when invalid. */
export function validateEncoding(
  encoding: StoreEncoding,
  numClasses: number,
): void {
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new LogitStoreError(
      `number of classes must be an integer >= 2, got ${numClasses}`,
    );
  }
  if (encoding.dtype !== "float16" && encoding.dtype !== "float32") {
    throw new LogitStoreError(
      `encoding dtype must be "float16" or "float32", got ${
        JSON.stringify(encoding.dtype)
      }`,
    );
  }
  if (encoding.kind === "topk") {
    if (
      !Number.isInteger(encoding.k) || encoding.k < 1 ||
      encoding.k >= numClasses
    ) {
      throw new LogitStoreError(
        `top-k encoding needs an integer k with 1 <= k < ${numClasses} classes, got k = ${encoding.k} (use a dense encoding to keep every class)`,
      );
    }
  } else if (encoding.kind !== "dense") {
    throw new LogitStoreError(
      `encoding kind must be "dense" or "topk", got ${
        JSON.stringify((encoding as { kind: unknown }).kind)
      }`,
    );
  }
}

/** Bytes that one teacher's logits for one view take under `encoding`. */
export function recordBytes(
  encoding: StoreEncoding,
  numClasses: number,
): number {
  const b = dtypeBytes(encoding.dtype);
  if (encoding.kind === "dense") return numClasses * b;
  return (encoding.k + 1) * b + encoding.k * indexBytes(numClasses);
}

function writeValue(
  view: DataView,
  offset: number,
  dtype: StoreDtype,
  value: number,
): void {
  if (dtype === "float16") {
    view.setUint16(offset, float32ToFloat16Bits(value), true);
  } else view.setFloat32(offset, value, true);
}

function readValue(
  bytes: Uint8Array,
  offset: number,
  dtype: StoreDtype,
): number {
  if (dtype === "float16") {
    return FLOAT16_TABLE[bytes[offset] | (bytes[offset + 1] << 8)];
  }
  return new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getFloat32(
    0,
    true,
  );
}

/**
 * Indices of the `k` largest values of `logits[start, start + C)`, largest
 * first, ties broken by the smaller class index (so output is deterministic).
 */
export function topKIndices(
  logits: ArrayLike<number>,
  start: number,
  numClasses: number,
  k: number,
): Int32Array {
  const best = new Int32Array(k);
  let filled = 0;
  for (let c = 0; c < numClasses; c++) {
    const v = logits[start + c];
    if (filled === k && !(v > logits[start + best[k - 1]])) continue;
    let pos = filled < k ? filled++ : k - 1;
    while (pos > 0 && v > logits[start + best[pos - 1]]) {
      best[pos] = best[pos - 1];
      pos--;
    }
    best[pos] = c;
  }
  return best;
}

/**
 * The fill logit of the top-k recovery rule: the logit that, given to each of
 * the `C - k` classes outside the top k, makes the softmax of the recovered
 * vector equal the original softmax on the top k and spread the remaining
 * mass evenly over the others (FKD's rule). Computed in float64.
 */
export function topKFillLogit(
  logits: ArrayLike<number>,
  start: number,
  numClasses: number,
  top: Int32Array,
): number {
  const max = logits[start + top[0]];
  let restSum = 0;
  let t = 0;
  const sorted = Array.from(top).sort((a, b) => a - b);
  for (let c = 0; c < numClasses; c++) {
    if (t < sorted.length && sorted[t] === c) {
      t++;
      continue;
    }
    restSum += Math.exp(logits[start + c] - max);
  }
  // An underflowed remainder still gets a finite fill far below the top k.
  return max +
    Math.log(Math.max(restSum, 1e-300) / (numClasses - top.length));
}

/**
 * Encodes the logits of one view from `logits[start, start + C)` into
 * `out[outOffset, outOffset + recordBytes)`.
 */
export function encodeRecord(
  logits: ArrayLike<number>,
  start: number,
  numClasses: number,
  encoding: StoreEncoding,
  out: Uint8Array,
  outOffset: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const dtype = encoding.dtype;
  const b = dtypeBytes(dtype);
  if (encoding.kind === "dense") {
    for (let c = 0; c < numClasses; c++) {
      writeValue(view, outOffset + c * b, dtype, logits[start + c]);
    }
    return;
  }
  const k = encoding.k;
  const top = topKIndices(logits, start, numClasses, k);
  const fill = topKFillLogit(logits, start, numClasses, top);
  for (let j = 0; j < k; j++) {
    writeValue(view, outOffset + j * b, dtype, logits[start + top[j]]);
  }
  writeValue(view, outOffset + k * b, dtype, fill);
  const indexOffset = outOffset + (k + 1) * b;
  const ib = indexBytes(numClasses);
  for (let j = 0; j < k; j++) {
    if (ib === 2) view.setUint16(indexOffset + j * 2, top[j], true);
    else view.setUint32(indexOffset + j * 4, top[j], true);
  }
}

/**
 * Decodes one record at `bytes[offset]` into `out[outOffset, outOffset + C)`.
 * Top-k records are recovered as: the stored logit for each of the k stored
 * classes, the fill logit for every other class.
 */
export function decodeRecord(
  bytes: Uint8Array,
  offset: number,
  numClasses: number,
  encoding: StoreEncoding,
  out: Float32Array,
  outOffset: number,
): void {
  const dtype = encoding.dtype;
  if (encoding.kind === "dense") {
    const at = bytes.byteOffset + offset;
    if (dtype === "float16") {
      if ((at & 1) === 0 && LITTLE_ENDIAN) {
        const halves = new Uint16Array(bytes.buffer, at, numClasses);
        for (let c = 0; c < numClasses; c++) {
          out[outOffset + c] = FLOAT16_TABLE[halves[c]];
        }
        return;
      }
      for (let c = 0; c < numClasses; c++) {
        const o = offset + 2 * c;
        out[outOffset + c] = FLOAT16_TABLE[bytes[o] | (bytes[o + 1] << 8)];
      }
    } else if ((at & 3) === 0 && LITTLE_ENDIAN) {
      out.set(new Float32Array(bytes.buffer, at, numClasses), outOffset);
    } else {
      const view = new DataView(bytes.buffer, at);
      for (let c = 0; c < numClasses; c++) {
        out[outOffset + c] = view.getFloat32(4 * c, true);
      }
    }
    return;
  }
  const k = encoding.k;
  const b = dtypeBytes(dtype);
  const fill = readValue(bytes, offset + k * b, dtype);
  out.fill(fill, outOffset, outOffset + numClasses);
  const indexOffset = offset + (k + 1) * b;
  const ib = indexBytes(numClasses);
  for (let j = 0; j < k; j++) {
    const io = indexOffset + j * ib;
    const cls = ib === 2
      ? bytes[io] | (bytes[io + 1] << 8)
      : (bytes[io] | (bytes[io + 1] << 8) | (bytes[io + 2] << 16) |
        (bytes[io + 3] << 24)) >>> 0;
    if (cls >= numClasses) {
      throw new LogitStoreError(
        `corrupt top-k record: class index ${cls} >= ${numClasses} classes`,
      );
    }
    out[outOffset + cls] = readValue(bytes, offset + j * b, dtype);
  }
}

/** A short name for an encoding, e.g. `"dense-float16"` or `"top5-float16"`. */
export function describeEncoding(encoding: StoreEncoding): string {
  return encoding.kind === "dense"
    ? `dense-${encoding.dtype}`
    : `top${encoding.k}-${encoding.dtype}`;
}
