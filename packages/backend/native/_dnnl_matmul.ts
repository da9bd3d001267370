// oneDNN matmul primitives on the wasm heap: `op(a) · op(b)` over a batch
// (either operand's batch may be 1 and broadcast), transposes expressed as
// strides (no copies), with a per-column bias and an activation as
// post-ops. One primitive per shape, made on first use and kept. Private to
// dnnl_mat_mul.ts.
import { checkStatus, type Dnnl } from "./dnnl.ts";
import { heapPointer } from "./heap.ts";
import {
  dims,
  execArgs,
  execute,
  heapMemory,
  implName,
  Owned,
  primitive,
  PrimitiveCache,
  primitiveDesc,
  setHandle,
} from "./_dnnl_objects.ts";
import { activationAttr, type DnnlActivation } from "./_dnnl_conv.ts";
import { MIN_SHARED_FLOPS } from "./_dnnl_kernel.ts";

const F32 = 3;
const ARG = { src: 1, dst: 17, weights: 33, bias: 41 } as const;
const DESC_BYTES = 8192;

/** One matmul's geometry: `[batch, m, n] = op(a) [batchA, m, k] · op(b) [batchB, k, n]`. */
export interface MatMulPlan {
  /** Batches of `a` (1, or the output's). */
  batchA: number;
  /** Batches of `b` (1, or the output's). */
  batchB: number;
  /** Rows of the product. */
  m: number;
  /** The inner dimension. */
  k: number;
  /** Columns of the product. */
  n: number;
  /** `a` is stored `[batchA, k, m]`. */
  transposeA: boolean;
  /** `b` is stored `[batchB, n, k]`. */
  transposeB: boolean;
  /** A bias of `n` values is added to every row. */
  bias: boolean;
  /** Applied last, as a post-op. */
  activation?: DnnlActivation;
}

/** A matmul primitive made for one plan. */
export interface DnnlMatMul {
  /** The implementation oneDNN chose (e.g. `brg:avx512_core`). */
  readonly impl: string;
  /** The threads it runs with. */
  readonly threads: number;
  /** Runs on the heap at byte offsets of a, b, the output and the bias. */
  run(heap: ArrayBufferLike, offsets: readonly number[]): void;
  /** Frees the library's objects. */
  destroy(): void;
}

function stridedDesc(
  dnnl: Dnnl,
  batch: number,
  rows: number,
  cols: number,
  transposed: boolean,
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(DESC_BYTES);
  // [batch, rows, cols] stored as [batch, cols, rows] when transposed
  const strides = transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1];
  checkStatus(
    dnnl.symbols.dnnl_memory_desc_init_by_strides(
      md,
      3,
      dims([batch, rows, cols]),
      F32,
      dims(strides),
    ),
    "dnnl_memory_desc_init_by_strides",
  );
  return md;
}

function build(dnnl: Dnnl, plan: MatMulPlan, threads: number): DnnlMatMul {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const batch = Math.max(plan.batchA, plan.batchB);
    const a = stridedDesc(dnnl, plan.batchA, plan.m, plan.k, plan.transposeA);
    const b = stridedDesc(dnnl, plan.batchB, plan.k, plan.n, plan.transposeB);
    const out = stridedDesc(dnnl, batch, plan.m, plan.n, false);
    const bias = plan.bias ? stridedDesc(dnnl, 1, 1, plan.n, false) : null;
    const desc = new Uint8Array(DESC_BYTES);
    checkStatus(
      s.dnnl_matmul_desc_init(desc, a, b, bias, out),
      "dnnl_matmul_desc_init",
    );
    const attr = activationAttr(s, plan.activation);
    let pd: Deno.PointerValue;
    try {
      pd = primitiveDesc(dnnl, owned, desc, attr, null, "matmul");
    } finally {
      if (attr !== null) s.dnnl_primitive_attr_destroy(attr);
    }
    const roles: [number, Uint8Array<ArrayBuffer>][] = [
      [ARG.src, a],
      [ARG.weights, b],
      [ARG.dst, out],
    ];
    if (bias) roles.push([ARG.bias, bias]);
    const memories = roles.map(([, md]) => heapMemory(dnnl, owned, md));
    const op = primitive(dnnl, owned, pd);
    const args = execArgs(roles.map(([arg], i) => [arg, memories[i]]));
    return {
      impl: implName(s, pd),
      threads,
      run(heap, offsets) {
        const base = heapPointer(heap);
        memories.forEach((m, i) => setHandle(s, m, base, offsets[i]));
        execute(dnnl, op, args, "matmul");
        checkStatus(s.dnnl_stream_wait(dnnl.stream), "dnnl_stream_wait");
      },
      destroy: () => owned.destroy(),
    };
  } catch (error) {
    owned.destroy();
    throw error;
  }
}

/** The matmul primitives of one opened library, by plan. */
export class DnnlMatMulCache {
  readonly #made: PrimitiveCache<DnnlMatMul>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /** The primitive for `plan`, or why oneDNN cannot run it. */
  get(plan: MatMulPlan): DnnlMatMul | string {
    const flops = 2 * Math.max(plan.batchA, plan.batchB) * plan.m * plan.k *
      plan.n;
    const threads = flops < MIN_SHARED_FLOPS ? 1 : this.dnnl.threads;
    const a = plan.activation;
    const key = [
      plan.batchA,
      plan.batchB,
      plan.m,
      plan.k,
      plan.n,
      plan.transposeA,
      plan.transposeB,
      plan.bias,
      a ? `${a.name}:${a.alpha ?? ""}` : "",
    ].join(",");
    return this.#made.get(key, threads, () => build(this.dnnl, plan, threads));
  }

  /** Each cached key with the implementation chosen or the reason refused. */
  report(): [string, string][] {
    return this.#made.report();
  }
}

const caches = new WeakMap<Dnnl, DnnlMatMulCache>();

/** The matmul cache of `dnnl` (one per opened library). */
export function dnnlMatMulCache(dnnl: Dnnl): DnnlMatMulCache {
  let cache = caches.get(dnnl);
  if (!cache) {
    cache = new DnnlMatMulCache(dnnl);
    caches.set(dnnl, cache);
  }
  return cache;
}
