// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), slicing-by-8.
const POLY = 0xedb88320;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  tables.push(first);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      next[n] = (first[prev[n] & 0xff] ^ (prev[n] >>> 8)) >>> 0;
    }
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables();

/**
 * Continues a CRC-32 over `bytes` from a previous value (0 to start), so that
 * a long stream can be checksummed piece by piece.
 *
 * ```ts
 * import { crc32Update } from "./_crc32.ts";
 * const bytes = new TextEncoder().encode("123456789");
 * const whole = crc32Update(0, bytes);
 * const split = crc32Update(crc32Update(0, bytes.subarray(0, 4)), bytes.subarray(4));
 * console.log(whole === split, whole.toString(16)); // true "cbf43926"
 * ```
 */
export function crc32Update(crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) |
      (bytes[i + 3] << 24))) >>> 0;
    c = T7[a & 0xff] ^ T6[(a >>> 8) & 0xff] ^ T5[(a >>> 16) & 0xff] ^
      T4[a >>> 24] ^ T3[bytes[i + 4]] ^ T2[bytes[i + 5]] ^ T1[bytes[i + 6]] ^
      T0[bytes[i + 7]];
    i += 8;
  }
  while (i < n) c = T0[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 (IEEE) of `bytes`, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  return crc32Update(0, bytes);
}
