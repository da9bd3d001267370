// oneDNN matmul primitives on the wasm heap: `op(a) · op(b)` over a batch
// (either operand's batch may be 1 and broadcast), transposes expressed as
// strides (no copies), with a per-column bias and an activation as
// post-ops. One primitive per shape, made on first use and kept. Private to
// dnnl_mat_mul.ts.
import { checkStatus, type Dnnl } from "./dnnl.ts";
import {
  DNNL_ARG as ARG,
  type HeapPrimitive,
  heapPrimitive,
  OP_DESC_BYTES,
  Owned,
  perLibrary,
  PrimitiveCache,
  primitiveDesc,
  stridedMemoryDesc,
} from "./_dnnl_objects.ts";
import { activationAttr, type DnnlActivation } from "./_dnnl_conv.ts";
import { MIN_SHARED_FLOPS } from "./_dnnl_kernel.ts";

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

function stridedDesc(
  dnnl: Dnnl,
  batch: number,
  rows: number,
  cols: number,
  transposed: boolean,
): Uint8Array<ArrayBuffer> {
  // [batch, rows, cols] stored as [batch, cols, rows] when transposed
  return stridedMemoryDesc(
    dnnl.symbols,
    [batch, rows, cols],
    transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1],
  );
}

function build(
  dnnl: Dnnl,
  plan: MatMulPlan,
  threads: number,
): HeapPrimitive {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const batch = Math.max(plan.batchA, plan.batchB);
    const a = stridedDesc(dnnl, plan.batchA, plan.m, plan.k, plan.transposeA);
    const b = stridedDesc(dnnl, plan.batchB, plan.k, plan.n, plan.transposeB);
    const out = stridedDesc(dnnl, batch, plan.m, plan.n, false);
    const bias = plan.bias ? stridedDesc(dnnl, 1, 1, plan.n, false) : null;
    const desc = new Uint8Array(OP_DESC_BYTES);
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
    return heapPrimitive(dnnl, owned, pd, roles, "matmul", threads);
  } catch (error) {
    owned.destroy();
    throw error;
  }
}

/** The matmul primitives of one opened library, by plan. */
export class DnnlMatMulCache {
  readonly #made: PrimitiveCache<HeapPrimitive>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /** The primitive for `plan`, or why oneDNN cannot run it. */
  get(plan: MatMulPlan): HeapPrimitive | string {
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

/** The matmul cache of `dnnl` (one per opened library). */
export const dnnlMatMulCache: (dnnl: Dnnl) => DnnlMatMulCache = perLibrary(
  (dnnl) => new DnnlMatMulCache(dnnl),
);
