/**
 * A deterministic stream of initializer seeds derived from one model seed, so
 * that the same seed gives the same weights and every initializer gets its own.
 */
export class SeedStream {
  #state: number;

  /** Starts a stream from `seed` (any finite number). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new Error(`seed must be a finite number, got ${seed}`);
    }
    this.#state = (Math.floor(seed) >>> 0) ^ 0x9e3779b9;
  }

  /** The next seed, a non-negative 31-bit integer. */
  next(): number {
    // splitmix32: consecutive seeds are decorrelated, unlike seed + i.
    this.#state = (this.#state + 0x9e3779b9) | 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) & 0x7fffffff;
  }
}
