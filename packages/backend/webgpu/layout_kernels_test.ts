// The wrapped Sum and Transpose on WebGPU against cpu, and the dispatches
// they save.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../init.ts";
import { countWebGpuWork } from "./work_counter.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

function compute(): tf.Tensor[] {
  const x = tf.randomNormal([5, 7, 300], 0, 1, "float32", 1);
  const m = tf.randomNormal([60, 40], 0, 1, "float32", 2);
  return [
    tf.sum(x, [0, 1]), // leading axes: one column sum
    tf.sum(x, [0], true), // leading, kept dims
    tf.sum(x, [1]), // not leading: the stock kernel
    tf.sum(x, -1),
    tf.transpose(m, [0, 1]), // identity: shared, no dispatch
    tf.transpose(m, [1, 0]),
  ];
}

async function on(backend: "cpu" | "webgpu") {
  await initBackend({ backend });
  const outs = tf.tidy(compute);
  const values = await Promise.all(outs.map((t) => t.data()));
  const shapes = outs.map((t) => t.shape);
  tf.dispose(outs);
  return { values: values as Float32Array[], shapes };
}

Deno.test({
  name: "webgpu Sum over leading axes and identity Transpose equal cpu",
  ignore,
  fn: async () => {
    const expected = await on("cpu");
    await initBackend({ backend: "webgpu" });
    const { result: actual, work } = await countWebGpuWork(() => on("webgpu"));
    assertEquals(actual.shapes, expected.shapes);
    expected.values.forEach((want, k) =>
      want.forEach((w, i) =>
        assert(
          Math.abs(actual.values[k][i] - w) <= 1e-4 * Math.max(1, Math.abs(w)),
          `output ${k}[${i}]: webgpu ${actual.values[k][i]}, cpu ${w}`,
        )
      )
    );
    assertEquals(work.byKernel["VitkdColumnSum"], 2);
    // only the real transpose, and the one inside the stock sum over axis 1
    assertEquals(
      (work.byKernel["TransposeProgram"] ?? 0) +
        (work.byKernel["TransposeSharedProgram"] ?? 0),
      2,
    );
    await initBackend({ backend: "cpu" });
  },
});
