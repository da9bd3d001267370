/**
 * The significance tests of the results tables: a paired t-test over seeds
 * (each seed's arms share data, teachers, views and initialisation, so the
 * per-seed differences are the unit of evidence) and McNemar's exact test on
 * one seed's per-image right/wrong outcomes of two models on the same test
 * images. Pure functions with exact distributions (no normal
 * approximations), tested against published values.
 *
 * @module
 */

import {
  logGamma,
  studentTQuantile,
  studentTTwoSided,
} from "./_special_functions.ts";

/** A paired t-test of `a - b` over seeds. */
export interface PairedTTest {
  /** Number of pairs. */
  n: number;
  /** Mean of the differences a - b. */
  meanDiff: number;
  /** Sample standard deviation of the differences. */
  sdDiff: number;
  /** t statistic (NaN with fewer than two pairs). */
  t: number;
  /** Degrees of freedom, n - 1. */
  df: number;
  /** Two-sided p-value (NaN with fewer than two pairs). */
  p: number;
  /** 95 % confidence interval of the mean difference. */
  ci95: [number, number];
}

/**
 * Student's paired t-test of the differences `a[i] - b[i]`. Differences
 * that are all equal have no spread to test against: t and p are NaN.
 */
export function pairedTTest(
  a: readonly number[],
  b: readonly number[],
): PairedTTest {
  if (a.length !== b.length) {
    throw new Error(
      `pairedTTest: ${a.length} and ${b.length} values do not pair up`,
    );
  }
  const diffs = a.map((x, i) => x - b[i]);
  const n = diffs.length;
  const meanDiff = n ? diffs.reduce((s, d) => s + d, 0) / n : NaN;
  if (n < 2) {
    return {
      n,
      meanDiff,
      sdDiff: NaN,
      t: NaN,
      df: Math.max(0, n - 1),
      p: NaN,
      ci95: [NaN, NaN],
    };
  }
  const sdDiff = Math.sqrt(
    diffs.reduce((s, d) => s + (d - meanDiff) ** 2, 0) / (n - 1),
  );
  const se = sdDiff / Math.sqrt(n);
  const df = n - 1;
  // rounding leaves ~1e-17 of spread in differences that are really equal
  if (sdDiff <= 1e-12 * Math.max(1, Math.abs(meanDiff))) {
    // identical differences (e.g. two seeds that happen to agree to the
    // last digit): the t statistic is undefined, and p = 0 would claim a
    // certainty no two or three seeds can give
    return {
      n,
      meanDiff,
      sdDiff,
      t: NaN,
      df,
      p: NaN,
      ci95: [meanDiff, meanDiff],
    };
  }
  const t = meanDiff / se;
  const half = studentTQuantile(0.05, df) * se;
  return {
    n,
    meanDiff,
    sdDiff,
    t,
    df,
    p: studentTTwoSided(t, df),
    ci95: [meanDiff - half, meanDiff + half],
  };
}

/** McNemar's test of two models on the same images. */
export interface McNemarTest {
  /** Images only model A classifies correctly. */
  onlyA: number;
  /** Images only model B classifies correctly. */
  onlyB: number;
  /** Two-sided exact (binomial) p-value. */
  p: number;
}

/**
 * McNemar's exact test from the discordant counts: under the null each
 * discordant image is A's or B's with probability ½, so the p-value is
 * `min(1, 2 P(X <= min(onlyA, onlyB)))` with X ~ Binomial(onlyA + onlyB, ½).
 * Summed in log space, so thousands of discordant images are fine.
 */
export function mcnemarExact(onlyA: number, onlyB: number): McNemarTest {
  for (const [name, v] of [["onlyA", onlyA], ["onlyB", onlyB]] as const) {
    if (!(Number.isInteger(v) && v >= 0)) {
      throw new Error(
        `mcnemarExact: ${name} must be a non-negative integer, got ${v}`,
      );
    }
  }
  const n = onlyA + onlyB;
  if (n === 0) return { onlyA, onlyB, p: 1 };
  const k = Math.min(onlyA, onlyB);
  const logChoose = (j: number) =>
    logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1);
  const terms: number[] = [];
  for (let j = 0; j <= k; j++) terms.push(logChoose(j) - n * Math.LN2);
  const max = Math.max(...terms);
  const tail = Math.exp(max) *
    terms.reduce((s, t) => s + Math.exp(t - max), 0);
  // with k >= n / 2 the two tails cover everything; rounding lands a hair below 1
  const p = 2 * tail > 1 - 1e-12 ? 1 : 2 * tail;
  return { onlyA, onlyB, p };
}

/**
 * McNemar's exact test of two per-image outcome vectors (1 = right): the
 * same images in the same order.
 */
export function mcnemarFromOutcomes(
  a: ArrayLike<number | boolean>,
  b: ArrayLike<number | boolean>,
): McNemarTest {
  if (a.length !== b.length) {
    throw new Error(
      `mcnemarFromOutcomes: ${a.length} and ${b.length} outcomes do not pair up`,
    );
  }
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    const ra = Boolean(a[i]);
    const rb = Boolean(b[i]);
    if (ra && !rb) onlyA++;
    else if (rb && !ra) onlyB++;
  }
  return mcnemarExact(onlyA, onlyB);
}

/**
 * A p-value for a table: two decimals from 0.1 up, three significant digits
 * below (so 0.0503 is not printed as a bare 0.050 next to the 5 % level),
 * `< 0.001` below that.
 */
export function formatP(p: number): string {
  if (Number.isNaN(p)) return "—";
  if (p < 0.001) return "< 0.001";
  return p >= 0.1 ? p.toFixed(2) : p.toPrecision(3);
}

/**
 * Holm's step-down adjustment of several p-values (family-wise error): the
 * i-th smallest is multiplied by (m - i), then made non-decreasing. NaN
 * p-values are left out of the family and stay NaN.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).filter((e) =>
    !Number.isNaN(e.p)
  ).sort((a, b) => a.p - b.p);
  const m = order.length;
  const adjusted = pValues.map(() => NaN);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
