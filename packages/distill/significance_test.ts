import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  formatP,
  holmAdjust,
  mcnemarExact,
  mcnemarFromOutcomes,
  pairedTTest,
} from "./significance.ts";
import {
  logGamma,
  regularizedBeta,
  studentTQuantile,
  studentTTwoSided,
} from "./_special_functions.ts";

Deno.test("logGamma matches factorials and Γ(½) = √π", () => {
  assertAlmostEquals(logGamma(1), 0, 1e-13);
  assertAlmostEquals(logGamma(5), Math.log(24), 1e-12);
  assertAlmostEquals(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-12);
  assertAlmostEquals(logGamma(101), 363.73937555556347, 1e-9);
});

Deno.test("regularizedBeta matches closed forms", () => {
  // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b
  assertAlmostEquals(regularizedBeta(0.3, 1, 1), 0.3, 1e-12);
  assertAlmostEquals(regularizedBeta(0.3, 3, 1), 0.027, 1e-12);
  assertAlmostEquals(regularizedBeta(0.3, 1, 4), 1 - 0.7 ** 4, 1e-12);
  assertEquals(regularizedBeta(0, 2, 3), 0);
  assertEquals(regularizedBeta(1, 2, 3), 1);
});

Deno.test("Student t two-sided p-values match tables", () => {
  // critical values of two-sided 5 % and 1 % tests
  assertAlmostEquals(studentTTwoSided(2.776445105, 4), 0.05, 1e-8);
  assertAlmostEquals(studentTTwoSided(12.70620474, 1), 0.05, 1e-8);
  assertAlmostEquals(studentTTwoSided(3.249835541, 9), 0.01, 1e-8);
  // df = 1 is Cauchy: p = 1 - 2 atan(t) / π
  assertAlmostEquals(
    studentTTwoSided(2, 1),
    1 - (2 * Math.atan(2)) / Math.PI,
    1e-12,
  );
  // df = 2 has p = 1 - t / sqrt(2 + t^2)
  assertAlmostEquals(
    studentTTwoSided(1.5, 2),
    1 - 1.5 / Math.sqrt(4.25),
    1e-12,
  );
  assertEquals(studentTTwoSided(0, 5), 1);
  assertAlmostEquals(studentTQuantile(0.05, 4), 2.776445105, 1e-7);
});

Deno.test("pairedTTest reproduces a textbook example", () => {
  // differences 1, 2, 3, 4, 5 -> mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5)/sqrt(5)) = 4.2426
  const test = pairedTTest([2, 4, 6, 8, 10], [1, 2, 3, 4, 5]);
  assertEquals(test.n, 5);
  assertEquals(test.df, 4);
  assertAlmostEquals(test.meanDiff, 3, 1e-12);
  assertAlmostEquals(test.t, 4.242640687, 1e-8);
  assertAlmostEquals(test.p, 0.01324, 1e-5); // R: t.test(paired = TRUE)
  assertAlmostEquals(test.ci95[0], 1.036757, 1e-5);
  assertAlmostEquals(test.ci95[1], 4.963243, 1e-5);
});

Deno.test("pairedTTest handles constant differences and one pair", () => {
  assert(Number.isNaN(pairedTTest([1, 2, 3], [0, 1, 2]).p));
  assert(Number.isNaN(pairedTTest([1, 2, 3], [1, 2, 3]).p));
  assertEquals(pairedTTest([1, 2, 3], [0, 1, 2]).meanDiff, 1);
  // accuracies out of 10,000 whose differences agree up to rounding
  assert(Number.isNaN(pairedTTest([0.4621, 0.4739], [0.4577, 0.4695]).p));
  const one = pairedTTest([0.5], [0.4]);
  assert(Number.isNaN(one.p));
  assertAlmostEquals(one.meanDiff, 0.1, 1e-12);
});

Deno.test("mcnemarExact matches the binomial tail", () => {
  // 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096
  assertAlmostEquals(mcnemarExact(10, 2).p, 158 / 4096, 1e-14);
  assertAlmostEquals(mcnemarExact(2, 10).p, 158 / 4096, 1e-14);
  assertEquals(mcnemarExact(0, 0).p, 1);
  assertEquals(mcnemarExact(5, 5).p, 1);
  // large counts stay finite: 520 vs 480 discordant images
  const big = mcnemarExact(520, 480);
  assert(big.p > 0.2 && big.p < 0.25, String(big.p)); // normal approx. 0.218
  assert(mcnemarExact(600, 400).p < 1e-9);
});

Deno.test("mcnemarFromOutcomes counts the discordant pairs", () => {
  const test = mcnemarFromOutcomes([1, 1, 0, 0, 1], [1, 0, 1, 0, 0]);
  assertEquals([test.onlyA, test.onlyB], [2, 1]);
  assertEquals(test.p, 1);
});

Deno.test("formatP writes p-values compactly", () => {
  assertEquals(formatP(0.2345), "0.23");
  assertEquals(formatP(0.0456), "0.0456");
  assertEquals(formatP(0.05031), "0.0503");
  assertEquals(formatP(0.0004), "< 0.001");
  assertEquals(formatP(NaN), "—");
});

Deno.test("holmAdjust multiplies by the remaining count and keeps order", () => {
  const adjusted = holmAdjust([0.01, 0.04, 0.03, NaN]);
  assertAlmostEquals(adjusted[0], 0.03, 1e-12);
  assertAlmostEquals(adjusted[2], 0.06, 1e-12);
  assertAlmostEquals(adjusted[1], 0.06, 1e-12); // max(0.04, 0.06)
  assert(Number.isNaN(adjusted[3]));
});
