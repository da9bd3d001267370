/** A deterministic pseudo-random number generator (sfc32). */
export interface Rng {
  /** A float in `[0, 1)`. */
  next(): number;
  /** An integer in `[0, 2^32)`. */
  nextUint32(): number;
  /** An integer in `[0, n)`; `n` must be a positive integer below 2^32. */
  nextInt(n: number): number;
  /** A float in `[lo, hi)`. */
  uniform(lo: number, hi: number): number;
  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkSeedPart(part: number): void {
  if (!Number.isInteger(part) || part < 0 || part > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `seed parts must be non-negative safe integers, got ${part}`,
    );
  }
}

/**
 * Hashes integer parts into one uint32 seed (murmur3-style mixing). Parts are
 * non-negative safe integers; parts above 2^32 contribute their high bits too.
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9 ^ parts.length;
  const absorb = (word: number) => {
    let k = Math.imul(word >>> 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const part of parts) {
    checkSeedPart(part);
    absorb(part % 0x100000000);
    absorb(Math.floor(part / 0x100000000));
  }
  return fmix32(h);
}

/**
 * The seed of view `viewIndex` of image `imageIndex` under `baseSeed`: the
 * seed `augmentImage` gets for that view, in training and in precompute alike.
 */
export function viewSeed(
  baseSeed: number,
  imageIndex: number,
  viewIndex: number,
): number {
  return hashSeed(baseSeed, imageIndex, viewIndex);
}

/** Creates a seeded sfc32 generator; the same seed gives the same stream. */
export function createRng(seed: number): Rng {
  checkSeedPart(seed);
  // splitmix-style expansion so that nearby seeds give unrelated states
  let a = fmix32(hashSeed(seed, 1));
  let b = fmix32(hashSeed(seed, 2));
  let c = fmix32(hashSeed(seed, 3));
  let d = 1;
  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) nextUint32();
  const next = (): number => nextUint32() / 0x100000000;
  const nextInt = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(
        `nextInt(n) needs an integer n in [1, 2^32], got ${n}`,
      );
    }
    // rejection sampling keeps the result unbiased
    const limit = 0x100000000 - (0x100000000 % n);
    let x = nextUint32();
    while (x >= limit) x = nextUint32();
    return x % n;
  };
  return {
    next,
    nextUint32,
    nextInt,
    uniform: (lo: number, hi: number): number => lo + (hi - lo) * next(),
    shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
      for (let i = items.length - 1; i > 0; i--) {
        const j = nextInt(i + 1);
        const tmp = items[i];
        items[i] = items[j];
        items[j] = tmp;
      }
      return items;
    },
  };
}
