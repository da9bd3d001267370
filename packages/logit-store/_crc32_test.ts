import { assertEquals } from "@std/assert";
import { crc32, crc32Update } from "./_crc32.ts";

Deno.test("crc32 matches the standard check values", () => {
  const enc = new TextEncoder();
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array(0)), 0);
  assertEquals(
    crc32(enc.encode("The quick brown fox jumps over the lazy dog")),
    0x414fa339,
  );
  assertEquals(crc32(new Uint8Array(32)), 0x190a55ad);
});

Deno.test("crc32Update over pieces equals crc32 of the whole", () => {
  const bytes = new Uint8Array(1037);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  const whole = crc32(bytes);
  for (const cut of [0, 1, 7, 8, 9, 500, 1036, 1037]) {
    const split = crc32Update(
      crc32Update(0, bytes.subarray(0, cut)),
      bytes.subarray(cut),
    );
    assertEquals(split, whole, `cut at ${cut}`);
  }
  const flipped = bytes.slice();
  flipped[600] ^= 0x10;
  assertEquals(crc32(flipped) === whole, false);
});
