// A small WebAssembly module writer: just the opcodes the SIMD kernels of
// this folder use. Kernels are written per geometry at run time (sizes and
// offsets as constants, loops over channels unrolled), so no toolchain is
// needed to build them and they run wherever WebAssembly SIMD does.

/** Value types. */
export const I32 = 0x7f;
/** 128-bit vector type. */
export const V128 = 0x7b;

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function signedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) ||
      (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function bytesOf(text: string): number[] {
  const encoded = new TextEncoder().encode(text);
  return [...unsignedLeb(encoded.length), ...encoded];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

/** A local variable's index. */
export type Local = number;

/**
 * One function's body: locals are declared as they are asked for, code is
 * appended by the methods (each one instruction).
 */
export class FunctionBody {
  readonly #code: number[] = [];
  readonly #locals: number[] = [];

  /** A function taking `params` i32 parameters (locals 0..params-1). */
  constructor(readonly params: number) {}

  /** A new local of `type` (I32 or V128). */
  local(type: number): Local {
    this.#locals.push(type);
    return this.params + this.#locals.length - 1;
  }

  #op(...bytes: number[]): this {
    this.#code.push(...bytes);
    return this;
  }

  #simd(opcode: number, ...immediates: number[]): this {
    return this.#op(0xfd, ...unsignedLeb(opcode), ...immediates);
  }

  /** local.get */
  get(local: Local): this {
    return this.#op(0x20, ...unsignedLeb(local));
  }
  /** local.set */
  set(local: Local): this {
    return this.#op(0x21, ...unsignedLeb(local));
  }
  /** i32.const */
  i32(value: number): this {
    return this.#op(0x41, ...signedLeb(value));
  }
  /** i32.add */
  add(): this {
    return this.#op(0x6a);
  }
  /** i32.sub */
  sub(): this {
    return this.#op(0x6b);
  }
  /** i32.mul */
  mul(): this {
    return this.#op(0x6c);
  }
  /** i32.div_s */
  divS(): this {
    return this.#op(0x6d);
  }
  /** i32.rem_s */
  remS(): this {
    return this.#op(0x6f);
  }
  /** i32.eqz */
  eqz(): this {
    return this.#op(0x45);
  }
  /** i32.and */
  and(): this {
    return this.#op(0x71);
  }
  /** i32.lt_u */
  ltU(): this {
    return this.#op(0x49);
  }
  /** i32.ne */
  ne(): this {
    return this.#op(0x47);
  }
  /** `local += value` for an i32 local. */
  addTo(local: Local, value: number): this {
    return this.get(local).i32(value).add().set(local);
  }
  /** f32.store (address and value on the stack) */
  f32Store(offset = 0): this {
    return this.#op(0x38, 2, ...unsignedLeb(offset));
  }
  /** i32.store (address and value on the stack) */
  i32Store(offset = 0): this {
    return this.#op(0x36, 2, ...unsignedLeb(offset));
  }
  /** f32.const 0 */
  f32Zero(): this {
    return this.#op(0x43, 0, 0, 0, 0);
  }
  /** f32.add */
  f32Add(): this {
    return this.#op(0x92);
  }
  /** v128.load (4-byte alignment: heap tensors are float-aligned) */
  v128Load(offset = 0): this {
    return this.#simd(0x00, 2, ...unsignedLeb(offset));
  }
  /** v128.store */
  v128Store(offset = 0): this {
    return this.#simd(0x0b, 2, ...unsignedLeb(offset));
  }
  /** v128.load32_splat: one float into every lane */
  loadSplat(offset = 0): this {
    return this.#simd(0x09, 2, ...unsignedLeb(offset));
  }
  /** v128.const of zeros */
  zeros(): this {
    return this.#simd(0x0c, ...new Array(16).fill(0));
  }
  /** f32x4.add */
  vAdd(): this {
    return this.#simd(0xe4);
  }
  /** f32x4.mul */
  vMul(): this {
    return this.#simd(0xe6);
  }
  /** v128.load64_zero: two floats into lanes 0 and 1, zeros above */
  load64Zero(offset = 0): this {
    return this.#simd(0x5d, 2, ...unsignedLeb(offset));
  }
  /** v128.load64_splat: eight bytes (a double) into both halves */
  load64Splat(offset = 0): this {
    return this.#simd(0x0a, 2, ...unsignedLeb(offset));
  }
  /** v128.store64_lane 0: the low eight bytes (two floats) */
  store64Low(offset = 0): this {
    return this.#simd(0x5b, 2, ...unsignedLeb(offset), 0);
  }
  /** f64x2.promote_low_f32x4: floats 0 and 1 as doubles */
  promoteLow(): this {
    return this.#simd(0x5f);
  }
  /** f32x4.demote_f64x2_zero: two doubles as floats 0 and 1 (rounded to nearest even) */
  demoteZero(): this {
    return this.#simd(0x5e);
  }
  /** f64.convert_i32_u: an i32 as a double */
  f64FromU32(): this {
    return this.#op(0xb8);
  }
  /** f64x2.splat: a double into both halves */
  dSplat(): this {
    return this.#simd(0x14);
  }
  /** f64x2.add */
  dAdd(): this {
    return this.#simd(0xf0);
  }
  /** f64x2.sub */
  dSub(): this {
    return this.#simd(0xf1);
  }
  /** f64x2.mul */
  dMul(): this {
    return this.#simd(0xf2);
  }
  /** f64x2.div */
  dDiv(): this {
    return this.#simd(0xf3);
  }
  /** f64x2.sqrt */
  dSqrt(): this {
    return this.#simd(0xef);
  }
  /** f32x4.extract_lane */
  lane(index: number): this {
    return this.#simd(0x1f, index);
  }
  /**
   * `if (condition on the stack) then() [else otherwise()] end`, the bodies
   * written by the callbacks.
   */
  if(then: () => void, otherwise?: () => void): this {
    this.#op(0x04, 0x40);
    then();
    if (otherwise) {
      this.#op(0x05);
      otherwise();
    }
    return this.#op(0x0b);
  }
  /**
   * `for (counter = from; counter != to; counter += step) body()`, with
   * `to` a local or a constant; `from` null keeps the counter's value (a
   * parameter). Runs the body at least once: the caller rules out empty
   * ranges.
   */
  loop(
    counter: Local,
    from: number | null,
    to: { local: Local } | { value: number },
    step: number,
    body: () => void,
  ): this {
    if (from !== null) this.i32(from).set(counter);
    this.#op(0x03, 0x40);
    body();
    this.addTo(counter, step);
    this.get(counter);
    if ("local" in to) this.get(to.local);
    else this.i32(to.value);
    this.ne();
    this.#op(0x0d, 0); // br_if to the loop's start
    return this.#op(0x0b);
  }

  /** The encoded body (locals and code). */
  encode(): number[] {
    const groups: number[] = [];
    let count = 0;
    for (let i = 0; i < this.#locals.length; i++) {
      count++;
      if (
        i + 1 === this.#locals.length || this.#locals[i + 1] !== this.#locals[i]
      ) {
        groups.push(...unsignedLeb(count), this.#locals[i]);
        count = 0;
      }
    }
    const runs = groups.length / 2;
    const body = [...unsignedLeb(runs), ...groups, ...this.#code, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  }
}

/**
 * A module importing memory `env.memory` and exporting `functions` (each
 * taking only i32 parameters, returning nothing) by name.
 */
export function encodeModule(
  functions: Record<string, FunctionBody>,
): Uint8Array<ArrayBuffer> {
  const entries = Object.entries(functions);
  const types = entries.map(([, f]) => [
    0x60,
    ...unsignedLeb(f.params),
    ...new Array(f.params).fill(I32),
    0,
  ]);
  const typeSection = section(1, [
    ...unsignedLeb(types.length),
    ...types.flat(),
  ]);
  const importSection = section(2, [
    1,
    ...bytesOf("env"),
    ...bytesOf("memory"),
    0x02,
    0x00,
    1,
  ]);
  const functionSection = section(3, [
    ...unsignedLeb(entries.length),
    ...entries.flatMap((_, i) => unsignedLeb(i)),
  ]);
  const exportSection = section(7, [
    ...unsignedLeb(entries.length),
    ...entries.flatMap((
      [name],
      i,
    ) => [...bytesOf(name), 0x00, ...unsignedLeb(i)]),
  ]);
  const codeSection = section(10, [
    ...unsignedLeb(entries.length),
    ...entries.flatMap(([, f]) => f.encode()),
  ]);
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...typeSection,
    ...importSection,
    ...functionSection,
    ...exportSection,
    ...codeSection,
  ]);
}

/**
 * Compiles `functions` into a module on `memory` (imported as `env.memory`)
 * and returns its exports by name. Throws where WebAssembly SIMD is missing.
 */
export function instantiateOn<T>(
  memory: WebAssembly.Memory,
  functions: Record<string, FunctionBody>,
): Record<string, T> {
  const module = new WebAssembly.Module(encodeModule(functions));
  return new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as Record<string, T>;
}
