// relu(a + b) on WebGPU (one dispatch each way) against the composition on
// cpu: values and both gradients, with exact zeros among the sums.
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "../init.ts";
import { countWebGpuWork } from "./work_counter.ts";
import { fusedAddRelu, hasFusedAddRelu } from "./add_relu.ts";
import { assertCloseToScale } from "./_test_util.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

/** y, then the gradients of sum(y · w) for a and b. */
async function compute(backend: "cpu" | "webgpu") {
  await initBackend({ backend });
  const outs = tf.tidy(() => {
    const a = tf.randomNormal([3, 5, 7, 6], 0, 1, "float32", 1);
    // b = -a in a quarter of the elements: sums of exactly 0, which relu
    // clips and whose gradient is 0
    const b = tf.where(
      tf.less(tf.randomUniform(a.shape, 0, 1, "float32", 2), 0.25),
      tf.neg(a),
      tf.randomNormal(a.shape, 0, 1, "float32", 3),
    );
    const w = tf.randomNormal(a.shape, 0, 1, "float32", 4);
    const f = (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(fusedAddRelu(x, y), w));
    return [fusedAddRelu(a, b), ...tf.grads(f)([a, b])];
  });
  const values = await Promise.all(outs.map((t) => t.data()));
  tf.dispose(outs);
  return values as Float32Array[];
}

Deno.test({
  name:
    "webgpu relu(a + b): values and gradients equal cpu, one dispatch each way",
  ignore,
  fn: async () => {
    const expected = await compute("cpu");
    await initBackend({ backend: "webgpu" });
    assertEquals(hasFusedAddRelu(), true);
    const { result: actual, work } = await countWebGpuWork(() =>
      compute("webgpu")
    );
    ["y", "da", "db"].forEach((name, k) =>
      assertCloseToScale(actual[k], expected[k], 1e-6, name)
    );
    // forward twice (alone and under the gradient), backward once
    assertEquals(work.byKernel["VitkdAddRelu"], 2);
    assertEquals(work.byKernel["VitkdReluGrad"], 1);
    for (const stock of ["UnaryOpProgram", "TileProgram"]) {
      assertEquals(work.byKernel[stock] ?? 0, 0, stock);
    }
    await initBackend({ backend: "cpu" });
  },
});
