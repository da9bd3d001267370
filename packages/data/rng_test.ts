import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { createRng, hashSeed, viewSeed } from "./rng.ts";

Deno.test("createRng: same seed gives the same stream, other seeds differ", () => {
  const a = createRng(42), b = createRng(42), c = createRng(43);
  const sa = Array.from({ length: 20 }, () => a.nextUint32());
  const sb = Array.from({ length: 20 }, () => b.nextUint32());
  const sc = Array.from({ length: 20 }, () => c.nextUint32());
  assertEquals(sa, sb);
  assertNotEquals(sa, sc);
});

Deno.test("createRng / viewSeed: pinned values never change (stored views depend on them)", () => {
  const rng = createRng(12345);
  assertEquals([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()], [
    3886197793,
    1790218042,
    2660857576,
  ]);
  assertEquals(viewSeed(0, 0, 0), 1090914532);
  assertEquals(viewSeed(7, 123, 2), 1531397703);
});

Deno.test("createRng: next in [0,1), nextInt in range and roughly uniform", () => {
  const rng = createRng(7);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20000; i++) {
    const x = rng.next();
    assert(x >= 0 && x < 1);
    const k = rng.nextInt(10);
    assert(Number.isInteger(k) && k >= 0 && k < 10);
    counts[k]++;
  }
  for (const n of counts) assert(n > 1700 && n < 2300, `bucket ${n}`);
  assertThrows(() => rng.nextInt(0), RangeError);
});

Deno.test("createRng: shuffle is a seeded permutation", () => {
  const a = createRng(3).shuffle(Array.from({ length: 50 }, (_, i) => i));
  const b = createRng(3).shuffle(Array.from({ length: 50 }, (_, i) => i));
  assertEquals(a, b);
  assertEquals(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assertNotEquals(a, Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("hashSeed / viewSeed: uint32, order-sensitive, distinct", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    for (let v = 0; v < 10; v++) {
      const s = viewSeed(1, i, v);
      assert(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
      seen.add(s);
    }
  }
  assertEquals(seen.size, 1000);
  assertNotEquals(hashSeed(1, 2), hashSeed(2, 1));
  assertNotEquals(hashSeed(1), hashSeed(1, 0));
  assertNotEquals(hashSeed(2 ** 32), hashSeed(0));
  assertEquals(viewSeed(5, 6, 7), hashSeed(5, 6, 7));
  assertThrows(() => hashSeed(-1), RangeError);
  assertThrows(() => hashSeed(1.5), RangeError);
});
