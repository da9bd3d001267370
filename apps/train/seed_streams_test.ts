import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { hashSeed } from "@vitkd/data";
import { SeedStream, streamSeed } from "./seed_streams.ts";

Deno.test("seed streams keep the salts runs were made with", () => {
  // the values before the streams were named: resumes and results depend on them
  assertEquals(streamSeed(7, "trainSubset"), hashSeed(7, 1));
  assertEquals(streamSeed(7, "teacherInit", 1), hashSeed(7, 101));
  assertEquals(streamSeed(7, "storedViews"), hashSeed(7, 300));
  assertEquals(streamSeed(7, "teacherRecalibration", 2), hashSeed(7, 602));
  const salts = Object.values(SeedStream);
  assertEquals(new Set(salts).size, salts.length);
  assertNotEquals(streamSeed(7, "studentInit"), streamSeed(8, "studentInit"));
  assertThrows(() => streamSeed(7, "teacherInit", 100), RangeError, "0..99");
});
