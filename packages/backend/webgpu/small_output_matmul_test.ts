// The wrapped BatchMatMul on WebGPU against cpu: products with a small
// output and a long inner dimension (weight gradients of 1x1 convolutions)
// in one reduction dispatch, the others as tfjs runs them.
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { assertCloseToScale } from "./_test_util.ts";
import { initBackend } from "../init.ts";
import { countWebGpuWork } from "./work_counter.ts";
import { reducesInOneDispatch } from "./small_output_matmul.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

const CASES: {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
  reduced: boolean;
}[] = [
  // a weight gradient: 16 x 36 outputs over 4,096 rows
  {
    a: [4096, 16],
    b: [4096, 36],
    transposeA: true,
    transposeB: false,
    reduced: true,
  },
  {
    a: [8, 2500],
    b: [18, 2500],
    transposeA: false,
    transposeB: true,
    reduced: true,
  },
  // a short inner dimension, and a batch: as tfjs runs them
  {
    a: [100, 8],
    b: [8, 9],
    transposeA: false,
    transposeB: false,
    reduced: false,
  },
  {
    a: [2, 2100, 12],
    b: [2, 2100, 12],
    transposeA: true,
    transposeB: false,
    reduced: false,
  },
];

async function on(backend: "cpu" | "webgpu", c: (typeof CASES)[number]) {
  await initBackend({ backend });
  const out = tf.tidy(() =>
    tf.matMul(
      tf.randomNormal(c.a, 0, 1, "float32", 1),
      tf.randomNormal(c.b, 0, 1, "float32", 2),
      c.transposeA,
      c.transposeB,
    )
  );
  const values = await out.data();
  out.dispose();
  return values as Float32Array;
}

for (const c of CASES) {
  Deno.test({
    name: `webgpu matMul [${c.a}]${c.transposeA ? "ᵀ" : ""} · [${c.b}]${
      c.transposeB ? "ᵀ" : ""
    } equals cpu${c.reduced ? ", in one reduction dispatch" : ""}`,
    ignore,
    fn: async () => {
      assertEquals(
        reducesInOneDispatch(c.a, c.b, c.transposeA, c.transposeB),
        c.reduced,
      );
      const expected = await on("cpu", c);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        on("webgpu", c)
      );
      assertCloseToScale(actual, expected, 1e-5, "product");
      const products = Object.entries(work.byKernel)
        .filter(([name]) => name.startsWith("MatMul"));
      if (c.reduced) {
        assertEquals(products, [["MatMulReduceProgram", 1]]);
        assertEquals(work.byKernel["FillProgram"] ?? 0, 0);
      } else {
        assertEquals(work.byKernel["MatMulReduceProgram"] ?? 0, 0);
      }
      await initBackend({ backend: "cpu" });
    },
  });
}

Deno.test("matMul products over 1,024 outputs keep tfjs's split-K", () => {
  assertEquals(
    reducesInOneDispatch([3000, 40], [3000, 30], true, false),
    false,
  );
  assertEquals(reducesInOneDispatch([3000, 32], [3000, 32], true, false), true);
});

Deno.test({
  name: "webgpu matMul: a program the user forces is left alone",
  ignore,
  fn: async () => {
    await initBackend({ backend: "webgpu" });
    const flag = "WEBGPU_MATMUL_PROGRAM_TYPE";
    tf.env().set(flag, 3); // MatMulPackedProgram
    try {
      const { work } = await countWebGpuWork(() => on("webgpu", CASES[0]));
      assertEquals(work.byKernel["MatMulReduceProgram"] ?? 0, 0);
      assertEquals(work.byKernel["MatMulPackedProgram"], 1);
    } finally {
      tf.env().set(flag, -1);
      await initBackend({ backend: "cpu" });
    }
  },
});
