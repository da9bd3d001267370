import { assertEquals } from "@std/assert";
import {
  balanceGroups,
  callFlops,
  type SgemmCall,
  splitRows,
} from "./sgemm_call.ts";

function call(overrides: Partial<SgemmCall> = {}): SgemmCall {
  return {
    transA: false,
    transB: false,
    m: 10,
    n: 4,
    k: 3,
    alpha: 1,
    a: 1000,
    lda: 3,
    b: 2000,
    ldb: 4,
    beta: 0,
    c: 3000,
    ldc: 4,
    ...overrides,
  };
}

Deno.test("splitRows cuts C's rows into consecutive, disjoint pieces", () => {
  const pieces = splitRows(call(), 3);
  assertEquals(pieces.map((p) => p.m), [3, 3, 4]);
  assertEquals(pieces.map((p) => p.a), [
    1000,
    1000 + 3 * 3 * 4,
    1000 + 6 * 3 * 4,
  ]);
  assertEquals(pieces.map((p) => p.c), [
    3000,
    3000 + 3 * 4 * 4,
    3000 + 6 * 4 * 4,
  ]);
  assertEquals(callFlops(pieces), callFlops([call()]));
});

Deno.test("splitRows steps a transposed A by columns", () => {
  const pieces = splitRows(call({ transA: true, lda: 10 }), 2);
  assertEquals(pieces.map((p) => p.a), [1000, 1000 + 5 * 4]);
  assertEquals(pieces.map((p) => p.lda), [10, 10]);
});

Deno.test("splitRows never makes empty pieces", () => {
  assertEquals(splitRows(call({ m: 2 }), 5).map((p) => p.m), [1, 1]);
});

Deno.test("balanceGroups cuts where the flops of both sides are closest", () => {
  const group = (m: number) => [call({ m })];
  const [mine, theirs] = balanceGroups([
    group(1),
    group(1),
    group(2),
    group(4),
  ]);
  assertEquals(mine.map((g) => g[0].m), [1, 1, 2]);
  assertEquals(theirs.map((g) => g[0].m), [4]);
  const [one, none] = balanceGroups([group(3)]);
  assertEquals([one.length, none.length], [1, 0]);
});
