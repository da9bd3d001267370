import { assert, assertEquals } from "@std/assert";
import {
  FLOAT16_TABLE,
  float16BitsToFloat32,
  float32ToFloat16Bits,
} from "./_float16.ts";

Deno.test("float16 encodes known values", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65519.99, 0x7bff], // just under the rounding boundary
    [65520, 0x7c00], // ties to even: rounds up to Infinity
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // exactly half of it: ties to even gives 0
    [2 ** -25 * 1.0001, 0x0001],
    [3 * 2 ** -25, 0x0002], // 1.5 units: ties to even gives 2
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and next: even is 1
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01],
    [0.1, 0x2e66],
  ];
  for (const [value, bits] of cases) {
    assertEquals(float32ToFloat16Bits(value), bits, `value ${value}`);
  }
  const nanBits = float32ToFloat16Bits(NaN);
  assert(Number.isNaN(float16BitsToFloat32(nanBits)));
});

Deno.test("float16 round trips every half value exactly", () => {
  for (let bits = 0; bits < 65536; bits++) {
    const v = float16BitsToFloat32(bits);
    if (Number.isNaN(v)) continue;
    assertEquals(float32ToFloat16Bits(v), bits, `bits ${bits.toString(16)}`);
  }
});

Deno.test("float16 rounding agrees with Math.f16round on random values", () => {
  const f16round = (Math as unknown as { f16round?: (x: number) => number })
    .f16round;
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < 200000; i++) {
    const magnitude = 2 ** (Math.floor(next() * 48) - 30);
    const value = Math.fround((next() * 2 - 1) * magnitude);
    const decoded = FLOAT16_TABLE[float32ToFloat16Bits(value)];
    if (f16round) {
      assertEquals(decoded, f16round(value), `value ${value}`);
    } else {
      // Without a native reference, check it is one of the two neighbours.
      const err = Math.abs(decoded - value);
      assert(
        Number.isFinite(decoded)
          ? err <= Math.abs(value) * 2 ** -10 + 2 ** -24
          : true,
      );
    }
  }
});
