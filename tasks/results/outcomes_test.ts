import { assertEquals, assertThrows } from "@std/assert";
import { decodeOutcomes, encodeOutcomes } from "./outcomes.ts";

Deno.test("outcomes survive encoding, whatever their count", () => {
  for (const count of [0, 1, 7, 8, 9, 10000]) {
    const outcomes = Uint8Array.from(
      { length: count },
      (_, i) => (i * 7919) % 3 === 0 ? 1 : 0,
    );
    const text = encodeOutcomes(outcomes);
    assertEquals(decodeOutcomes(text), outcomes);
  }
  assertEquals(encodeOutcomes([1, 0, 1]), "3:BQ==");
  assertThrows(() => decodeOutcomes("9:BQ=="), Error, "do not hold");
  assertThrows(() => decodeOutcomes("BQ=="), Error, "expected");
});
