import { assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import { ContentHasher, fingerprintContent, hashBytes } from "./hash.ts";
import { pattern } from "./_testing.ts";

Deno.test("hashBytes: streaming in any chunking equals one shot", () => {
  const data = pattern(1000, 1);
  const whole = hashBytes(data);
  assertMatch(whole, /^[0-9a-f]{32}$/);
  for (const step of [1, 3, 15, 16, 17, 100, 999]) {
    const h = new ContentHasher();
    for (let i = 0; i < data.length; i += step) {
      h.update(data.subarray(i, i + step));
    }
    assertEquals(h.digest(), whole, `chunk ${step}`);
  }
});

Deno.test("hashBytes: pinned values never change (cache files and fingerprints depend on them)", () => {
  assertEquals(
    hashBytes(new Uint8Array(0)),
    "c33262383da4ef4e5eee419e0a327ce7",
  );
  assertEquals(hashBytes(pattern(1000, 1)), "587932707d2ecd2eb0457f7cb2a328aa");
});

Deno.test("hashBytes: unaligned views hash like aligned copies", () => {
  const buffer = pattern(301, 2);
  const view = buffer.subarray(1, 257);
  assertEquals(hashBytes(view), hashBytes(view.slice()));
});

Deno.test("hashBytes: sensitive to every byte, to length and to order", () => {
  const data = pattern(4096, 3);
  const base = hashBytes(data);
  for (const i of [0, 5, 2047, 4095]) {
    const changed = data.slice();
    changed[i] ^= 1;
    assertNotEquals(hashBytes(changed), base, `byte ${i}`);
  }
  const longer = new Uint8Array(4097);
  longer.set(data);
  assertNotEquals(hashBytes(longer), base);
  assertNotEquals(hashBytes(new Uint8Array(0)), hashBytes(new Uint8Array(1)));
  assertNotEquals(hashBytes("ab", "c"), hashBytes("c", "ab"));
});

Deno.test("fingerprintContent: depends on pixels, labels, shape and class names", () => {
  const images = pattern(2 * 4 * 4, 4);
  const labels = new Int32Array([0, 1]);
  const shape = { height: 4, width: 4, channels: 1 };
  const base = fingerprintContent(images, labels, shape, ["a", "b"]);
  assertEquals(
    fingerprintContent(images.slice(), labels.slice(), shape, ["a", "b"]),
    base,
  );
  assertNotEquals(
    fingerprintContent(images, new Int32Array([1, 0]), shape, ["a", "b"]),
    base,
  );
  assertNotEquals(fingerprintContent(images, labels, shape, ["a", "c"]), base);
  assertNotEquals(
    fingerprintContent(images, labels, { height: 8, width: 2, channels: 1 }, [
      "a",
      "b",
    ]),
    base,
  );
});
