import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { BlasHelper } from "./blas_helper.ts";
import { loadNativeBlas } from "./register.ts";
import type { SgemmCall } from "./sgemm_call.ts";
import { geluInferenceLoop, HEAP_LOOPS, LoopId } from "./loops.ts";

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

Deno.test({
  name:
    "BlasHelper.shareLoop: GELU, layer norm, head moves and batch norm split = unsplit, exactly",
  ignore: ignore || !blas?.helper,
  fn() {
    const helper = blas!.helper!;
    const size = 3 * 65536 + 7;
    const width = 96;
    const rows = 1001;
    // x, then outputs of the split and the unsplit run, each `size` floats.
    const memory = new Float32Array(6 * size);
    let seed = 12345;
    for (let i = 0; i < size; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      memory[i] = (seed / 2 ** 32 - 0.5) * 12;
    }
    const base = Number(
      Deno.UnsafePointer.value(Deno.UnsafePointer.of(memory)),
    );
    const share = (id: number, args: number[], n: number) => {
      const ranHere: number[][] = [];
      helper.shareLoop(
        base,
        memory.byteLength,
        id,
        args,
        n,
        (start, end) => {
          ranHere.push([start, end]);
          HEAP_LOOPS[id](memory, args, start, end);
        },
      );
      // The helper ran the second half.
      assertEquals(ranHere, [[0, Math.ceil(n / 2)]]);
    };
    const [split, whole] = [size, 2 * size];
    const same = (label: string, a: number, b: number, n: number) =>
      assertEquals(
        [...memory.subarray(a, a + n)],
        [...memory.subarray(b, b + n)],
        label,
      );

    share(LoopId.GeluInference, [0, split], size);
    geluInferenceLoop(memory, [0, whole], 0, size);
    same("gelu inference", split, whole, size);

    // Training: the slope is written over e = exp(-x²/2).
    for (let i = 0; i < size; i++) {
      memory[split + i] = memory[whole + i] = Math.exp(
        -0.5 * memory[i] * memory[i],
      );
    }
    share(LoopId.GeluTraining, [0, split, 3 * size], size);
    HEAP_LOOPS[LoopId.GeluTraining](memory, [0, whole, 4 * size], 0, size);
    same("gelu slope", split, whole, size);
    same("gelu training", 3 * size, 4 * size, size);

    // Layer norm of `rows` rows; gamma and beta from x's tail.
    const g = 5 * size;
    const b = g + width;
    const stats = b + width;
    const args = (y: number, m: number) => [
      0,
      g,
      b,
      y,
      m,
      m + rows,
      width,
      1e-6,
    ];
    memory.copyWithin(g, size - 2 * width, size);
    share(LoopId.LayerNorm, args(split, stats), rows);
    HEAP_LOOPS[LoopId.LayerNorm](
      memory,
      args(whole, stats + 2 * rows),
      0,
      rows,
    );
    same("layer norm", split, whole, rows * width);
    same("layer norm stats", stats, stats + 2 * rows, 2 * rows);

    // Heads: tokens [n, length, 3 * heads * headDim] from x, to three head
    // layouts, split and unsplit; then back into tokens, split.
    const [n, length, heads, headDim] = [5, 17, 4, 8];
    const partSize = n * length * heads * headDim;
    const headArgs = (tokens: number, at: number, toHeads: number) => [
      tokens,
      n,
      length,
      heads,
      headDim,
      0.5,
      toHeads,
      at,
      at + partSize,
      at + 2 * partSize,
    ];
    share(LoopId.MoveHeads, headArgs(0, split, 1), 3 * n);
    HEAP_LOOPS[LoopId.MoveHeads](memory, headArgs(0, whole, 1), 0, 3 * n);
    same("tokens to heads", split, whole, 3 * partSize);
    share(LoopId.MoveHeads, headArgs(3 * size, split, 0), 3 * n);
    for (let i = 0; i < 3 * partSize; i++) {
      // Part 0 went through the scale twice (0.5 each way).
      const expected = i % (3 * heads * headDim) < heads * headDim
        ? memory[i] * 0.25
        : memory[i];
      if (memory[3 * size + i] !== expected) {
        throw new Error(
          `heads to tokens: element ${i} is ${
            memory[3 * size + i]
          }, expected ${expected}`,
        );
      }
    }
    // Inference batch norm over pixels of 24 channels; its constants from x.
    const channels = 24;
    const pixels = Math.floor(size / channels);
    const constants = 5 * size;
    memory.copyWithin(constants, 0, 3 * channels);
    share(LoopId.ChannelAffine, [0, split, constants, channels], pixels);
    HEAP_LOOPS[LoopId.ChannelAffine](
      memory,
      [0, whole, constants, channels],
      0,
      pixels,
    );
    same("channel affine", split, whole, pixels * channels);
    assert(helper.alive, "the helper died");
  },
});
