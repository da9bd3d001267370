// Involution aggregation on WebGPU against the wasm kernel: values and both
// gradients, at stride 1 and 2, with windows cut by the image border.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../init.ts";
import { fusedInvolution } from "../cnn_kernels/ops.ts";
import { countWebGpuWork } from "./work_counter.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

const CASES: {
  x: [number, number, number, number];
  kernelSize: number;
  strides: number;
  groupChannels: number;
}[] = [
  { x: [2, 5, 6, 8], kernelSize: 3, strides: 1, groupChannels: 4 },
  { x: [1, 7, 5, 4], kernelSize: 3, strides: 2, groupChannels: 2 },
  { x: [1, 6, 6, 4], kernelSize: 5, strides: 1, groupChannels: 4 },
];

async function valuesAndGrads(c: (typeof CASES)[number]) {
  const outs = tf.tidy(() => {
    const [n, h, w, ch] = c.x;
    const oh = Math.ceil(h / c.strides), ow = Math.ceil(w / c.strides);
    const groups = ch / c.groupChannels;
    const x = tf.randomNormal(c.x, 0, 1, "float32", 1) as tf.Tensor4D;
    const kernels = tf.randomNormal(
      [n, oh, ow, c.kernelSize * c.kernelSize * groups],
      0,
      1,
      "float32",
      2,
    ) as tf.Tensor4D;
    const attrs = {
      kernelSize: c.kernelSize,
      strides: c.strides,
      groupChannels: c.groupChannels,
    };
    const y = fusedInvolution(x, kernels, attrs);
    const weights = tf.randomNormal(y.shape, 0, 1, "float32", 3);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.mul(
          fusedInvolution(a as tf.Tensor4D, b as tf.Tensor4D, attrs),
          weights,
        ),
      )
    )([x, kernels]);
    return [y, ...grads];
  });
  const values = await Promise.all(outs.map((t) => t.data()));
  tf.dispose(outs);
  return values as Float32Array[];
}

for (const c of CASES) {
  Deno.test({
    name:
      `webgpu involution K=${c.kernelSize} stride ${c.strides} x [${c.x}]: values and gradients equal wasm`,
    ignore,
    fn: async () => {
      await initBackend({ backend: "wasm", native: "off" });
      const expected = await valuesAndGrads(c);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        valuesAndGrads(c)
      );
      ["y", "dx", "dkernels"].forEach((name, k) => {
        let scale = 1e-3;
        for (const v of expected[k]) scale = Math.max(scale, Math.abs(v));
        expected[k].forEach((want, i) =>
          assert(
            Math.abs(actual[k][i] - want) <= 1e-5 * scale,
            `${name}[${i}]: webgpu ${actual[k][i]}, wasm ${want}`,
          )
        );
      });
      // forward twice (value and under the gradient), each backward once
      assertEquals(work.byKernel["VitkdInvolution"], 2);
      assertEquals(work.byKernel["VitkdInvolutionGradInput"], 1);
      assertEquals(work.byKernel["VitkdInvolutionGradKernels"], 1);
      await initBackend({ backend: "cpu" });
    },
  });
}
