import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import { seeded } from "../wasm_kernels/_test_util.ts";
import { spatialMeanSimd } from "./spatial_mean_simd.ts";
import { setWasmSimd } from "./_switch.ts";
import { registerFusedKernels } from "../fused/register.ts";
import { heapMemory, type WasmBackendLike } from "../native/heap.ts";

registerFusedKernels();

Deno.test("wasm Mean over the middle axes: the SIMD kernel's values equal the float64 loop's to the bit", async () => {
  await tf.setBackend("wasm");
  const backend = tf.backend() as unknown as WasmBackendLike;
  assert(spatialMeanSimd(heapMemory(backend)) !== undefined, "no SIMD kernel");
  const cases: [number[], number[], boolean][] = [
    [[5, 7, 3, 32], [1, 2], false],
    [[2, 1, 1, 16], [1, 2], true],
    [[3, 4, 4, 48], [2, 1], false],
    [[4, 9, 64], [1], false],
  ];
  for (const [shape, axes, keepDims] of cases) {
    const x = tf.tensor(seeded(shape, 71, 3).values, shape);
    const run = async (simd: boolean) => {
      setWasmSimd(simd);
      try {
        const y = tf.mean(x, axes, keepDims);
        const values = { shape: y.shape, values: await y.data() };
        y.dispose();
        return values;
      } finally {
        setWasmSimd(true);
      }
    };
    const [simd, loop] = [await run(true), await run(false)];
    assertEquals(simd, loop, `[${shape}] axes ${axes}`);
    // and the mean it is: the first channel of the first image
    const rows = shape.slice(1, -1).reduce((a, b) => a * b, 1);
    const values = await x.data();
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += values[r * shape.at(-1)!];
    assertEquals(simd.values[0], Math.fround(sum / rows));
    x.dispose();
  }
});
