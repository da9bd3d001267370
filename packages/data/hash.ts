/**
 * A fast non-cryptographic 128-bit content hash (four xxhash32-style lanes
 * over little-endian 32-bit words). It detects changed or corrupt data; it is
 * not meant to resist deliberate collisions. On the 2-core dev machine it
 * hashed 153.6 MB (CIFAR-10's training pixels) in 0.18-0.26 s, where
 * WebCrypto's SHA-256 took 1.3 s.
 */
const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function avalanche(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Incremental 128-bit hasher; feed bytes with `update`, read with `digest`. */
export class ContentHasher {
  #lanes = [
    (P1 + P2) | 0,
    P2 | 0,
    0,
    (0 - P1) | 0,
  ];
  #pending = new Uint8Array(16);
  #pendingLength = 0;
  #totalLength = 0;

  /** Adds `bytes` to the hashed stream; returns this for chaining. */
  update(bytes: Uint8Array | string): this {
    if (typeof bytes === "string") bytes = new TextEncoder().encode(bytes);
    this.#totalLength += bytes.length;
    let offset = 0;
    if (this.#pendingLength > 0) {
      const take = Math.min(16 - this.#pendingLength, bytes.length);
      this.#pending.set(bytes.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      offset = take;
      if (this.#pendingLength < 16) return this;
      this.#consumeBlocks(this.#pending, 0, 16);
      this.#pendingLength = 0;
    }
    const blockBytes = (bytes.length - offset) & ~15;
    if (blockBytes > 0) {
      this.#consumeBlocks(bytes, offset, blockBytes);
      offset += blockBytes;
    }
    if (offset < bytes.length) {
      this.#pending.set(bytes.subarray(offset), 0);
      this.#pendingLength = bytes.length - offset;
    }
    return this;
  }

  #consumeBlocks(bytes: Uint8Array, offset: number, length: number): void {
    const start = bytes.byteOffset + offset;
    // Uint32Array views need 4-byte alignment; copy the rare unaligned input
    const words = start % 4 === 0
      ? new Uint32Array(bytes.buffer, start, length >>> 2)
      : new Uint32Array(bytes.slice(offset, offset + length).buffer);
    let [a, b, c, d] = this.#lanes;
    for (let i = 0; i < words.length; i += 4) {
      a = Math.imul(rotl((a + Math.imul(words[i], P2)) | 0, 13), P1);
      b = Math.imul(rotl((b + Math.imul(words[i + 1], P2)) | 0, 13), P1);
      c = Math.imul(rotl((c + Math.imul(words[i + 2], P2)) | 0, 13), P1);
      d = Math.imul(rotl((d + Math.imul(words[i + 3], P2)) | 0, 13), P1);
    }
    this.#lanes = [a, b, c, d];
  }

  /** The 128-bit hash of everything fed so far, as 32 lowercase hex digits. */
  digest(): string {
    let [a, b, c, d] = this.#lanes;
    const lengthLow = this.#totalLength >>> 0;
    const lengthHigh = Math.floor(this.#totalLength / 0x100000000) >>> 0;
    for (let i = 0; i < this.#pendingLength; i++) {
      const byte = this.#pending[i];
      switch (i & 3) {
        case 0:
          a = Math.imul(rotl((a + Math.imul(byte, P5)) | 0, 11), P1);
          break;
        case 1:
          b = Math.imul(rotl((b + Math.imul(byte, P5)) | 0, 11), P1);
          break;
        case 2:
          c = Math.imul(rotl((c + Math.imul(byte, P5)) | 0, 11), P1);
          break;
        default:
          d = Math.imul(rotl((d + Math.imul(byte, P5)) | 0, 11), P1);
      }
    }
    const mixed = (rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18)) | 0;
    const out = [
      avalanche(a ^ mixed ^ lengthLow),
      avalanche(Math.imul(b ^ mixed, P4) ^ lengthHigh),
      avalanche(Math.imul(c + mixed, P3) ^ lengthLow),
      avalanche(Math.imul(d ^ rotl(mixed, 16), P2) ^ this.#pendingLength),
    ];
    // a second round lets every output word depend on every lane
    const cross = (out[0] ^ out[1] ^ out[2] ^ out[3]) >>> 0;
    return out
      .map((w, i) => avalanche((w + Math.imul(cross, i + 1)) | 0))
      .map((w) => w.toString(16).padStart(8, "0"))
      .join("");
  }
}

/** The 128-bit content hash of the concatenation of `parts` (32 hex digits). */
export function hashBytes(...parts: (Uint8Array | string)[]): string {
  const hasher = new ContentHasher();
  for (const part of parts) hasher.update(part);
  return hasher.digest();
}

/** Views a typed array's bytes without copying. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * The content fingerprint of a data set's pixels, labels, shape and class
 * names (what `ImageDataset.fingerprint` holds for freshly loaded data).
 */
export function fingerprintContent(
  images: Uint8Array,
  labels: Int32Array,
  shape: { height: number; width: number; channels: number },
  classNames: string[],
): string {
  const header = JSON.stringify({
    h: shape.height,
    w: shape.width,
    c: shape.channels,
    classNames,
  });
  return hashBytes(header, bytesOf(labels), images);
}
