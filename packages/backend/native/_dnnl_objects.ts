// The oneDNN objects every primitive is made of, through the 2.x C API:
// memory descriptors in buffers, primitive descriptors, primitives and
// memory objects (owned together, freed together), execution arguments and
// data handles into the wasm heap, primitives run on heap offsets, and the
// caches that keep them. Private to the oneDNN kernels' modules.
import {
  checkStatus,
  type Dnnl,
  type DnnlSymbols,
  outPointer,
} from "./dnnl.ts";
import { heapPointer } from "./heap.ts";

const F32 = 3;
const QUERY_IMPL_INFO = 8;
// sizeof(dnnl_memory_desc_t) is 696 in 2.6; the buffers leave room for
// other 2.x releases.
const MEMORY_DESC_BYTES = 1024;
// DNNL_MEMORY_ALLOCATE, (void *)-1: the library allocates the buffer. Made
// on use: pointer constructors need --allow-ffi, and this module loads
// without it.
const MEMORY_ALLOCATE = 0xffff_ffff_ffff_ffffn;

/** oneDNN 2.x execution argument ids (dnnl_types.h `DNNL_ARG_*`). */
export const DNNL_ARG = {
  src: 1,
  src1: 2,
  dst: 17,
  weights: 33,
  bias: 41,
  mean: 49,
  variance: 50,
  scale: 51,
  shift: 52,
  workspace: 64,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
  diffScale: 255,
  diffShift: 256,
  /** DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1: post-op 0's tensor. */
  postOp0Src1: 16384 | 2,
} as const;

/**
 * Bytes of an op descriptor buffer: the largest in 2.6,
 * dnnl_convolution_desc_t, is 5976; the rest leaves room for other 2.x
 * releases.
 */
export const OP_DESC_BYTES = 8192;

/**
 * Below this many values a batch norm, row or elementwise primitive runs on
 * one thread: waking OpenMP's second thread costs more than it saves.
 */
export const MIN_SHARED_VALUES = 65536;

/** A `dnnl_dims_t`: twelve int64s, `values` first. */
export function dims(values: number[]): BigInt64Array {
  const out = new BigInt64Array(12);
  values.forEach((v, i) => (out[i] = BigInt(v)));
  return out;
}

/** The library objects made for one primitive, destroyed together. */
export class Owned {
  readonly primitives: Deno.PointerValue[] = [];
  readonly memories: Deno.PointerValue[] = [];
  readonly descs: Deno.PointerValue[] = [];
  constructor(readonly s: DnnlSymbols) {}
  destroy(): void {
    for (const p of this.primitives) this.s.dnnl_primitive_destroy(p);
    for (const m of this.memories) this.s.dnnl_memory_destroy(m);
    for (const d of this.descs) this.s.dnnl_primitive_desc_destroy(d);
    this.primitives.length = this.memories.length = this.descs.length = 0;
  }
}

/** An f32 memory descriptor of `shape` in the layout `tag`. */
export function memoryDesc(
  s: DnnlSymbols,
  shape: number[],
  tag: number,
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(MEMORY_DESC_BYTES);
  checkStatus(
    s.dnnl_memory_desc_init_by_tag(md, shape.length, dims(shape), F32, tag),
    "dnnl_memory_desc_init_by_tag",
  );
  return md;
}

/** An f32 memory descriptor of `shape` laid out with `strides` (in elements). */
export function stridedMemoryDesc(
  s: DnnlSymbols,
  shape: number[],
  strides: number[],
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(MEMORY_DESC_BYTES);
  checkStatus(
    s.dnnl_memory_desc_init_by_strides(
      md,
      shape.length,
      dims(shape),
      F32,
      dims(strides),
    ),
    "dnnl_memory_desc_init_by_strides",
  );
  return md;
}

/** The address of a descriptor buffer. */
export function pointerOf(buffer: Uint8Array<ArrayBuffer>): Deno.PointerValue {
  return Deno.UnsafePointer.of(buffer);
}

/** A primitive descriptor for an op descriptor, kept by `owned`. */
export function primitiveDesc(
  dnnl: Dnnl,
  owned: Owned,
  desc: Uint8Array<ArrayBuffer>,
  attr: Deno.PointerValue,
  hint: Deno.PointerValue,
  what: string,
): Deno.PointerValue {
  const cell = new BigUint64Array(1);
  checkStatus(
    dnnl.symbols.dnnl_primitive_desc_create(
      cell,
      desc,
      attr,
      dnnl.engine,
      hint,
    ),
    `dnnl_primitive_desc_create (${what})`,
  );
  const pd = outPointer(cell);
  owned.descs.push(pd);
  return pd;
}

/** A primitive, kept by `owned`. */
export function primitive(
  dnnl: Dnnl,
  owned: Owned,
  pd: Deno.PointerValue,
): Deno.PointerValue {
  const cell = new BigUint64Array(1);
  checkStatus(
    dnnl.symbols.dnnl_primitive_create(cell, pd),
    "dnnl_primitive_create",
  );
  const p = outPointer(cell);
  owned.primitives.push(p);
  return p;
}

/** A memory object over `handle`, kept by `owned`. */
export function memory(
  dnnl: Dnnl,
  owned: Owned,
  md: Deno.PointerValue,
  handle: Deno.PointerValue,
): Deno.PointerValue {
  const cell = new BigUint64Array(1);
  checkStatus(
    dnnl.symbols.dnnl_memory_create(cell, md, dnnl.engine, handle),
    "dnnl_memory_create",
  );
  const m = outPointer(cell);
  owned.memories.push(m);
  return m;
}

/** A memory object of `md` whose buffer the library allocates, kept by `owned`. */
export function libraryMemory(
  dnnl: Dnnl,
  owned: Owned,
  md: Deno.PointerValue,
): Deno.PointerValue {
  return memory(dnnl, owned, md, Deno.UnsafePointer.create(MEMORY_ALLOCATE));
}

/** The implementation the library chose, e.g. `jit:avx512_core`. */
export function implName(s: DnnlSymbols, pd: Deno.PointerValue): string {
  const cell = new BigUint64Array(1);
  if (s.dnnl_primitive_desc_query(pd, QUERY_IMPL_INFO, 0, cell) !== 0) {
    return "unknown";
  }
  const p = outPointer(cell);
  return p === null ? "unknown" : Deno.UnsafePointerView.getCString(p);
}

/** A `dnnl_exec_arg_t` array: `{ int arg; dnnl_memory_t memory; }` each. */
export function execArgs(
  entries: [number, Deno.PointerValue][],
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(16 * entries.length);
  const view = new DataView(bytes.buffer);
  entries.forEach(([arg, mem], i) => {
    view.setInt32(16 * i, arg, true);
    view.setBigUint64(16 * i + 8, Deno.UnsafePointer.value(mem), true);
  });
  return bytes;
}

/** A memory object whose data handle is set per call (into the heap). */
export function heapMemory(
  dnnl: Dnnl,
  owned: Owned,
  md: Uint8Array<ArrayBuffer>,
): Deno.PointerValue {
  return memory(dnnl, owned, pointerOf(md), null);
}

/** Points `mem` at `offset` bytes past `base`. */
export function setHandle(
  s: DnnlSymbols,
  mem: Deno.PointerValue,
  base: Deno.PointerValue,
  offset: number,
): void {
  checkStatus(
    s.dnnl_memory_set_data_handle(
      mem,
      Deno.UnsafePointer.offset(base!, offset),
    ),
    "dnnl_memory_set_data_handle",
  );
}

/** Executes a primitive on the stream. */
export function execute(
  dnnl: Dnnl,
  p: Deno.PointerValue,
  args: Uint8Array<ArrayBuffer>,
  what: string,
): void {
  checkStatus(
    dnnl.symbols.dnnl_primitive_execute(p, dnnl.stream, args.length / 16, args),
    `dnnl_primitive_execute (${what})`,
  );
}

/** A primitive made for one shape, run on heap offsets given per call. */
export interface HeapPrimitive {
  /** The implementation oneDNN chose (e.g. `jit:avx512_core`). */
  readonly impl: string;
  /** The threads it was made for, and runs with. */
  readonly threads: number;
  /** Runs on the heap with its tensors at these byte offsets, in its roles' order. */
  run(heap: ArrayBufferLike, offsets: readonly number[]): void;
  /** Frees the library's objects. */
  destroy(): void;
}

/**
 * The primitive of `pd` with one heap memory object per role (an execution
 * argument id and its descriptor), freed with `owned`; `run` takes one byte
 * offset per role, in order.
 */
export function heapPrimitive(
  dnnl: Dnnl,
  owned: Owned,
  pd: Deno.PointerValue,
  roles: [number, Uint8Array<ArrayBuffer> | Deno.PointerObject][],
  what: string,
  threads: number,
): HeapPrimitive {
  const s = dnnl.symbols;
  // a role's descriptor is a buffer of ours or one the library returned
  const memories = roles.map(([, md]) =>
    md instanceof Uint8Array
      ? heapMemory(dnnl, owned, md)
      : memory(dnnl, owned, md, null)
  );
  const op = primitive(dnnl, owned, pd);
  const args = execArgs(
    roles.map(([arg], i): [number, Deno.PointerValue] => [arg, memories[i]]),
  );
  return {
    impl: implName(s, pd),
    threads,
    run(heap, offsets) {
      if (offsets.length !== memories.length) {
        throw new Error(
          `oneDNN ${what}: ${memories.length} offsets expected, got ${offsets.length}`,
        );
      }
      const base = heapPointer(heap);
      memories.forEach((m, i) => setHandle(s, m, base, offsets[i]));
      execute(dnnl, op, args, what);
      checkStatus(s.dnnl_stream_wait(dnnl.stream), "dnnl_stream_wait");
    },
    destroy: () => owned.destroy(),
  };
}

/**
 * Runs a made primitive on the heap with its thread count; returns why not
 * when the library refused it (`op` is then the reason) or it failed.
 */
export function runOnHeap(
  dnnl: Dnnl,
  op: HeapPrimitive | string,
  heap: ArrayBufferLike,
  offsets: readonly number[],
): string | undefined {
  if (typeof op === "string") return op;
  try {
    dnnl.withThreads(op.threads, () => op.run(heap, offsets));
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/**
 * `make(dnnl)` once per opened library: the per-library caches of the
 * kernels (convolutions, matmuls, row operations).
 */
export function perLibrary<T extends object>(
  make: (dnnl: Dnnl) => T,
): (dnnl: Dnnl) => T {
  const made = new WeakMap<Dnnl, T>();
  return (dnnl) => {
    let value = made.get(dnnl);
    if (!value) {
      value = make(dnnl);
      made.set(dnnl, value);
    }
    return value;
  };
}

/**
 * Primitives made on first use, one per key, at most `capacity` kept (the
 * oldest freed first); a key the library refused is kept with the reason,
 * so it is not asked again.
 */
export class PrimitiveCache<
  T extends { readonly impl: string; destroy(): void },
> {
  readonly #made = new Map<string, T | string>();

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {}

  /** The primitive for `key`, built with OpenMP's team at `threads` on first use, or why not. */
  get(key: string, threads: number, build: () => T): T | string {
    const known = this.#made.get(key);
    if (known !== undefined) return known;
    let made: T | string;
    try {
      made = this.dnnl.withThreads(threads, build);
    } catch (error) {
      made = (error as Error).message;
    }
    if (this.#made.size >= this.capacity) {
      const [oldest, entry] = this.#made.entries().next().value!;
      if (typeof entry !== "string") entry.destroy();
      this.#made.delete(oldest);
    }
    this.#made.set(key, made);
    return made;
  }

  /** Each cached key with the implementation chosen or the reason refused. */
  report(): [string, string][] {
    return [...this.#made].map((
      [key, entry],
    ) => [key, typeof entry === "string" ? `refused: ${entry}` : entry.impl]);
  }

  /** Frees every primitive. */
  clear(): void {
    for (const entry of this.#made.values()) {
      if (typeof entry !== "string") entry.destroy();
    }
    this.#made.clear();
  }
}
