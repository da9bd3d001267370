// The split-K filter gradient on WebGPU against cpu, over strides, paddings
// and filter sizes, with one split and with many.
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { assertCloseToScale } from "./_test_util.ts";
import { initBackend } from "../init.ts";
import { countWebGpuWork } from "./work_counter.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

const CASES: {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
  pad: "same" | "valid" | number;
}[] = [
  { x: [8, 16, 16, 3], filter: [3, 3, 3, 16], strides: 1, pad: "same" },
  { x: [2, 9, 7, 5], filter: [3, 3, 5, 20], strides: 2, pad: "same" },
  { x: [3, 8, 8, 4], filter: [1, 1, 4, 6], strides: 2, pad: "valid" },
  { x: [1, 6, 5, 3], filter: [5, 5, 3, 4], strides: 1, pad: 1 },
  { x: [1, 4, 4, 40], filter: [3, 3, 40, 33], strides: 1, pad: "same" },
  // 1x1 over 2,048 pixels: the product xᵀ · dy in one reduction dispatch
  { x: [8, 16, 16, 4], filter: [1, 1, 4, 6], strides: 1, pad: "same" },
];

async function on(backend: "cpu" | "webgpu", c: (typeof CASES)[number]) {
  await initBackend({ backend });
  const dw = tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, "float32", 1) as tf.Tensor4D;
    const probe = tf.conv2d(
      x,
      tf.zeros(c.filter) as tf.Tensor4D,
      c.strides,
      c.pad,
    );
    const dy = tf.randomNormal(probe.shape, 0, 1, "float32", 2) as tf.Tensor4D;
    // the gradient for the filter is Conv2DBackpropFilter(x, dy)
    return tf.grad((f: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, c.strides, c.pad), dy))
    )(tf.zeros(c.filter));
  });
  const values = await dw.data();
  dw.dispose();
  return values as Float32Array;
}

for (const c of CASES) {
  Deno.test({
    name:
      `webgpu conv2d filter gradient x [${c.x}] filter [${c.filter}] stride ${c.strides} pad ${c.pad} equals cpu`,
    ignore,
    fn: async () => {
      const expected = await on("cpu", c);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        on("webgpu", c)
      );
      assertCloseToScale(actual, expected, 2e-5, "dw");
      const pointwise = c.filter[0] === 1 && c.strides === 1 &&
        c.x[0] * c.x[1] * c.x[2] >= 2000;
      assertEquals(
        work.byKernel["VitkdConv2DFilterGrad"] ?? 0,
        pointwise ? 0 : 1,
      );
      // (a small forward convolution may reduce too: only the 1x1 is counted)
      if (pointwise) assertEquals(work.byKernel["MatMulReduceProgram"], 1);
      assertEquals(work.byKernel["Conv2DDerFilterProgram"] ?? 0, 0);
      await initBackend({ backend: "cpu" });
    },
  });
}
