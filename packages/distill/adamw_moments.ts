import * as tf from "@tensorflow/tfjs";
import type { Variable } from "./tf_types.ts";

/**
 * AdamW's first and second moments for a fixed list of variables, kept in
 * one of two layouts: a variable per moment (the composed update's, on cpu
 * and wasm) or packed, every first moment and then every second moment in
 * one buffer (the in-place WebGPU update's: one binding for all moments, so
 * a dispatch updates more variables). The values move when the layout
 * changes.
 */
export class AdamWMoments {
  /** Where each variable's moments start in a half of the packed buffer. */
  readonly offsets: readonly number[];
  /** Values per variable. */
  readonly sizes: readonly number[];
  readonly #shapes: readonly number[][];
  #m: tf.Variable[] = [];
  #v: tf.Variable[] = [];
  #packed?: tf.Variable;

  /** Zero moments for `variables`, packed or one variable each. */
  constructor(variables: readonly Variable[], packed: boolean) {
    this.#shapes = variables.map((v) => [...v.shape]);
    this.sizes = variables.map((v) => v.size);
    let at = 0;
    this.offsets = this.sizes.map((size) => (at += size) - size);
    // tidy frees the zero tensors; the variables survive it
    tf.tidy(() => {
      if (packed) {
        this.#packed = tf.variable(tf.zeros([2 * this.#total()]), false);
      } else {
        this.#m = this.#shapes.map((s) => tf.variable(tf.zeros(s), false));
        this.#v = this.#shapes.map((s) => tf.variable(tf.zeros(s), false));
      }
    });
  }

  /** Whether the moments are packed into one buffer now. */
  get packed(): boolean {
    return this.#packed !== undefined;
  }

  /** The packed buffer `[2 · total]`; packs the moments first if needed. */
  packedBuffer(): tf.Variable {
    if (!this.#packed) {
      const parts = [...this.#m, ...this.#v].map((t) => tf.reshape(t, [-1]));
      this.#packed = tf.tidy(() =>
        tf.variable(parts.length > 0 ? tf.concat(parts) : tf.zeros([0]), false)
      );
      tf.dispose(parts);
      tf.dispose([...this.#m, ...this.#v]);
      this.#m = [];
      this.#v = [];
    }
    return this.#packed;
  }

  /** The moments as a variable each; unpacks them first if needed. */
  perVariable(): { m: tf.Variable[]; v: tf.Variable[] } {
    const packed = this.#packed;
    if (packed) {
      const half = this.#total();
      const part = (start: number, i: number) =>
        tf.tidy(() =>
          tf.variable(
            tf.reshape(
              tf.slice(packed, start + this.offsets[i], this.sizes[i]),
              this.#shapes[i],
            ),
            false,
          )
        );
      this.#m = this.sizes.map((_, i) => part(0, i));
      this.#v = this.sizes.map((_, i) => part(half, i));
      packed.dispose();
      this.#packed = undefined;
    }
    return { m: this.#m, v: this.#v };
  }

  /** Copies of both moments per variable, read asynchronously. */
  async read(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    if (this.#packed) {
      const all = await this.#packed.data() as Float32Array;
      const half = this.#total();
      const part = (start: number) =>
        this.sizes.map((size, i) =>
          all.slice(start + this.offsets[i], start + this.offsets[i] + size)
        );
      return { m: part(0), v: part(half) };
    }
    const read = (list: tf.Variable[]) =>
      Promise.all(list.map(async (t) => Float32Array.from(await t.data())));
    return { m: await read(this.#m), v: await read(this.#v) };
  }

  /** Sets both moments per variable (sizes checked by the caller). */
  write(m: readonly Float32Array[], v: readonly Float32Array[]): void {
    if (this.#packed) {
      const half = this.#total();
      const all = new Float32Array(2 * half);
      this.offsets.forEach((offset, i) => {
        all.set(m[i], offset);
        all.set(v[i], half + offset);
      });
      tf.tidy(() => this.#packed!.assign(tf.tensor1d(all)));
      return;
    }
    this.#shapes.forEach((shape, i) => {
      tf.tidy(() => {
        this.#m[i].assign(tf.tensor(m[i], shape, "float32"));
        this.#v[i].assign(tf.tensor(v[i], shape, "float32"));
      });
    });
  }

  /** Frees the moments. */
  dispose(): void {
    tf.dispose([
      ...this.#m,
      ...this.#v,
      ...(this.#packed ? [this.#packed] : []),
    ]);
  }

  #total(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }
}
