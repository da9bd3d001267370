/** One row-major sgemm, `C = alpha * op(A) * op(B) + beta * C`, on byte offsets into a heap. */
export interface SgemmCall {
  /** Whether A is transposed. */
  transA: boolean;
  /** Whether B is transposed. */
  transB: boolean;
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Scale of the product. */
  alpha: number;
  /** Byte offset of A. */
  a: number;
  /** Row stride of A, in elements. */
  lda: number;
  /** Byte offset of B. */
  b: number;
  /** Row stride of B, in elements. */
  ldb: number;
  /** Scale of C's old contents (0: C is overwritten). */
  beta: number;
  /** Byte offset of C. */
  c: number;
  /** Row stride of C, in elements. */
  ldc: number;
}

/** Floating-point operations of some calls (2mnk each). */
export function callFlops(calls: readonly SgemmCall[]): number {
  let flops = 0;
  for (const call of calls) flops += 2 * call.m * call.n * call.k;
  return flops;
}

/**
 * `call` cut into at most `parts` calls over consecutive row ranges of C
 * (rows of op(A)): independent calls that write disjoint rows of C.
 */
export function splitRows(call: SgemmCall, parts: number): SgemmCall[] {
  const count = Math.max(1, Math.min(parts, call.m));
  const pieces: SgemmCall[] = [];
  for (let part = 0; part < count; part++) {
    const start = Math.floor((part * call.m) / count);
    const end = Math.floor(((part + 1) * call.m) / count);
    if (end <= start) continue;
    pieces.push({
      ...call,
      m: end - start,
      // Row r of op(A) is row r of A, or column r when A is transposed.
      a: call.a + (call.transA ? start : start * call.lda) * 4,
      c: call.c + start * call.ldc * 4,
    });
  }
  return pieces;
}

/**
 * Cuts `groups` in two at the point that best balances their flops: the
 * first part for the calling thread, the second for the helper.
 */
export function balanceGroups(
  groups: readonly (readonly SgemmCall[])[],
): [SgemmCall[][], SgemmCall[][]] {
  const flops = groups.map((g) => callFlops(g));
  const total = flops.reduce((a, b) => a + b, 0);
  let cut = 0;
  let before = 0;
  while (
    cut < groups.length &&
    Math.abs(total - 2 * (before + flops[cut])) <= Math.abs(total - 2 * before)
  ) {
    before += flops[cut];
    cut++;
  }
  return [
    groups.slice(0, cut).map((g) => [...g]),
    groups.slice(cut).map((g) => [...g]),
  ];
}
