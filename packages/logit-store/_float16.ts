// IEEE 754 binary16 conversion written for the store (round to nearest, ties
// to even), so that stored bytes never depend on the runtime's Float16Array.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Converts a number to the bits of the nearest IEEE half-precision value,
 * rounding to nearest with ties to even; overflow gives ±Infinity, NaN a
 * quiet NaN.
 *
 * ```ts
 * import { float16BitsToFloat32, float32ToFloat16Bits } from "./_float16.ts";
 * const bits = float32ToFloat16Bits(0.1);
 * console.log(bits.toString(16), float16BitsToFloat32(bits)); // "2e66" 0.0999755859375
 * ```
 */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  // Unbiased exponent e, half biased exponent e + 15.
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep 10 of 23 mantissa bits, round the dropped 13.
    let half = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
    // A carry out of the mantissa correctly bumps the exponent (up to Inf).
    return sign | half;
  }
  if (e < -25) return sign; // below half the smallest subnormal: ±0
  // Subnormal half: value = m * 2^-24 with m < 1024.
  const full = mant | 0x800000; // 24 significant bits, value = full * 2^(e-23)
  const shift = -e - 1; // bits of `full` to drop so that units become 2^-24
  const m = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  let half = m;
  if (rest > halfway || (rest === halfway && (m & 1))) half++;
  return sign | half;
}

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant ? NaN : Infinity;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
}

/** All 65,536 half-precision values as float32, indexed by their bits. */
export const FLOAT16_TABLE: Float32Array = buildHalfTable();

/** Converts the bits of an IEEE half-precision value to a number (exact). */
export function float16BitsToFloat32(bits: number): number {
  return FLOAT16_TABLE[bits & 0xffff];
}
