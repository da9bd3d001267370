// The native forward convolution's bias paths, forced onto the native kernel
// (no wasm kernel to defer to): a per-channel bias written into the output
// before the sgemms, and any other bias shape added after, on the stride-1
// grid and on the stride-phase one.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import { nativeFusedConv2DConfig } from "./fused_conv2d.ts";
import {
  disableNativeKernels,
  enableNativeKernels,
  loadNativeBlas,
} from "./register.ts";

const TOLERANCE = 1e-4;
const { blas, status } = loadNativeBlas();
const ignore = !blas;
if (ignore) console.warn(`native bias tests skipped: ${status.reason}`);

function seeded(shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = ((state >>> 0) / 4294967296) * 2 - 1;
  }
  return tf.tensor(values, shape);
}

async function fusedConv(
  backend: "cpu" | "wasm",
  x: number[],
  filter: number[],
  bias: number[],
  strides: number,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const inputs = [seeded(x, 41), seeded(filter, 42), seeded(bias, 43)];
  const y = tf.fused.conv2d({
    x: inputs[0] as tf.Tensor4D,
    filter: inputs[1] as tf.Tensor4D,
    bias: inputs[2],
    strides,
    pad: "same",
    activation: "relu",
  });
  const values = await y.data() as Float32Array;
  tf.dispose([...inputs, y]);
  return values;
}

Deno.test({
  name: "forced native FusedConv2D adds a per-channel or a scalar bias",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(blas!);
    const kept = tf.getKernel("FusedConv2D", "wasm")!;
    tf.unregisterKernel("FusedConv2D", "wasm");
    tf.registerKernel(nativeFusedConv2DConfig(blas!, undefined));
    try {
      for (const strides of [1, 2]) {
        for (const bias of [[6], [1]]) {
          const x = [2, 9, 7, 8];
          const filter = [3, 3, 8, 6];
          const expected = await fusedConv("cpu", x, filter, bias, strides);
          const actual = await fusedConv("wasm", x, filter, bias, strides);
          assertEquals(actual.length, expected.length);
          const scale = Math.max(1, ...expected.map(Math.abs));
          const worst = Math.max(
            ...actual.map((v, i) => Math.abs(v - expected[i])),
          );
          assert(
            worst <= TOLERANCE * scale,
            `stride ${strides}, bias [${bias}]: max |native - cpu| = ${worst}`,
          );
        }
      }
    } finally {
      tf.unregisterKernel("FusedConv2D", "wasm");
      tf.registerKernel(kept);
      disableNativeKernels();
    }
  },
});
