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
  const image = tf.randomNormal([3, 4, 5, 6], 0, 1, "float32", 3);
  const weights = tf.randomNormal([3, 6], 0, 1, "float32", 4);
  const pooled = (t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [1, 2]), weights));
  return [
    tf.sum(x, [0, 1]), // leading axes: one column sum
    tf.sum(x, [0], true), // leading, kept dims
    tf.sum(x, [1]), // a middle axis: one column sum
    tf.sum(x, -1), // the last axis: the stock kernel
    tf.mean(image, [1, 2]), // global average pooling: one column sum
    tf.mean(image, [2, 1], true),
    tf.mean(image, [0]),
    tf.mean(image, [1, 3]), // not consecutive: the stock kernel
    tf.grad(pooled)(image), // the mean's gradient: one spread
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
  name:
    "webgpu Sum and Mean over consecutive axes, the mean's gradient and identity Transpose equal cpu",
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
    // the sums and means over consecutive axes before the last (the
    // gradient's forward pass too)
    assertEquals(work.byKernel["VitkdColumnSum"], 7);
    assertEquals(work.byKernel["VitkdSpreadRows"], 1);
    assertEquals(work.byKernel["TileProgram"] ?? 0, 0);
    // the real transpose, and one inside each stock reduction (the last
    // axis needs none)
    assertEquals(
      (work.byKernel["TransposeProgram"] ?? 0) +
        (work.byKernel["TransposeSharedProgram"] ?? 0),
      2,
    );
    await initBackend({ backend: "cpu" });
  },
});
