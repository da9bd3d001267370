import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import { seeded } from "../wasm_kernels/_test_util.ts";
import { adamwSimd } from "./adamw_simd.ts";
import { setWasmSimd } from "./_switch.ts";
import { fusedAdamWStep } from "../fused/ops.ts";
import { registerFusedKernels } from "../fused/register.ts";
import { heapMemory, type WasmBackendLike } from "../native/heap.ts";

registerFusedKernels();

Deno.test("AdamW on wasm: the SIMD kernel's values equal the float64 loop's to the bit (odd sizes, decay, scale)", async () => {
  await tf.setBackend("wasm");
  const backend = tf.backend() as unknown as WasmBackendLike;
  assert(adamwSimd(heapMemory(backend)) !== undefined, "no SIMD kernel");
  const constants = {
    learningRate: 3e-3,
    beta1: 0.9,
    beta2: 0.999,
    correction1: 1 - 0.9 ** 3,
    correction2: 1 - 0.999 ** 3,
    epsilon: 1e-8,
  };
  for (const size of [1, 2, 7, 1000]) {
    const [p, g, m] = [61, 62, 63].map((seed) =>
      tf.tensor(seeded([size], seed, 2).values)
    );
    const v = tf.abs(tf.tensor(seeded([size], 64).values));
    const scale = tf.scalar(0.37);
    const run = async (simd: boolean) => {
      setWasmSimd(simd);
      try {
        const outs = [
          ...fusedAdamWStep(p, g, m, v, { ...constants, weightDecay: 0.05 }),
          ...fusedAdamWStep(
            p,
            g,
            m,
            v,
            { ...constants, weightDecay: 0 },
            scale,
          ),
        ];
        const values = await Promise.all(outs.map((t) => t.data()));
        tf.dispose(outs);
        return values;
      } finally {
        setWasmSimd(true);
      }
    };
    const [simd, loop] = [await run(true), await run(false)];
    simd.forEach((values, i) =>
      assertEquals(values, loop[i], `size ${size}, output ${i}`)
    );
    // the update moved every weight
    const before = await p.data();
    assert(simd[0].every((value, i) => value !== before[i]));
    tf.dispose([p, g, m, v, scale]);
  }
});
