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

const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7: about 15 significant digits). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) {
    // reflection keeps the series in its accurate range
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t +
    Math.log(sum);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) return h;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) {
    throw new Error(`regularizedBeta: a and b must be > 0, got ${a}, ${b}`);
  }
  if (!(x >= 0 && x <= 1)) {
    throw new Error(`regularizedBeta: x must be in [0, 1], got ${x}`);
  }
  if (x === 0 || x === 1) return x;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) +
      b * Math.log(1 - x),
  );
  // the continued fraction converges fast only on this side of the mean
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(|T| >= |t|) for Student's t with `df` degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`studentTTwoSided: df must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t with P(|T| >= t) = `p` (two-sided quantile), by bisection. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) {
    throw new Error(`studentTQuantile: p must be in (0, 1), got ${p}`);
  }
  let lo = 0;
  let hi = 1;
  while (studentTTwoSided(hi, df) > p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTTwoSided(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

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
