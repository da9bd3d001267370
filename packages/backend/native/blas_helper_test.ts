import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { BlasHelper } from "./blas_helper.ts";
import { loadNativeBlas } from "./register.ts";
import type { SgemmCall } from "./sgemm_call.ts";

const { blas, status } = loadNativeBlas();
const ignore = !blas;

Deno.test("BlasHelper.start names a library it could not open", () => {
  const started = BlasHelper.start("/nonexistent/libopenblas.so.0");
  assertEquals(typeof started, "string");
  assertStringIncludes(started as string, "could not open");
});

// C = A·B for a 4x2 A and a 2x3 B, one row of C per call, so that rows can
// go to either thread.
function rowCalls(a: number, b: number, c: number): SgemmCall[] {
  return [0, 1, 2, 3].map((row) => ({
    transA: false,
    transB: false,
    m: 1,
    n: 3,
    k: 2,
    alpha: 1,
    a: a + row * 2 * 4,
    lda: 2,
    b,
    ldb: 3,
    beta: 0,
    c: c + row * 3 * 4,
    ldc: 3,
  }));
}

Deno.test({
  name:
    "BlasHelper runs its share on the caller's memory, also after an empty share",
  ignore,
  fn() {
    const helper = BlasHelper.start(status.library!);
    if (typeof helper === "string") throw new Error(helper);
    try {
      const memory = new Float32Array(64);
      memory.set([1, 2, 3, 4, 5, 6, 7, 8], 0); // A at float 0
      memory.set([1, 0, 2, 0, 1, 3], 16); // B at float 16
      const base = Number(
        Deno.UnsafePointer.value(Deno.UnsafePointer.of(memory)),
      );
      const calls = rowCalls(0, 16 * 4, 32 * 4);
      const run = (call: SgemmCall) =>
        blas!.sgemm(
          memory.buffer,
          call.transA,
          call.transB,
          call.m,
          call.n,
          call.k,
          call.alpha,
          call.a,
          call.lda,
          call.b,
          call.ldb,
          call.beta,
          call.c,
          call.ldc,
        );
      helper.share(base, [], () => calls.slice(0, 2).forEach(run), run);
      helper.share(
        base,
        calls.slice(2),
        () => calls.slice(0, 2).forEach(run),
        run,
      );
      assert(helper.alive, "the helper died");
      // Row r of C: [a0, a1] · [[1, 0, 2], [0, 1, 3]] = [a0, a1, 2a0 + 3a1].
      assertEquals(
        [...memory.subarray(32, 44)],
        [1, 2, 8, 3, 4, 18, 5, 6, 28, 7, 8, 38],
      );
    } finally {
      helper.stop();
    }
  },
});
