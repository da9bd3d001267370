// The fused ViT kernels on WebGPU against the same kernels on wasm: values
// and gradients through the shared gradient functions. The adapter here is
// usually llvmpipe (software).
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../init.ts";
import {
  fusedGelu,
  fusedLayerNorm,
  fusedSoftmax,
  headsToTokens,
  padTokens,
  sliceTokens,
  tokensToHeads,
} from "../fused/ops.ts";
import { countWebGpuWork } from "./work_counter.ts";

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());

interface Case {
  name: string;
  /**
   * Fused dispatches on webgpu: the forward runs twice (the value, and under
   * the gradient), the backward once.
   */
  dispatches: Record<string, number>;
  inputs: number[][];
  run: (...xs: tf.Tensor[]) => tf.Tensor;
}

const CASES: Case[] = [
  {
    name: "layer norm",
    dispatches: {
      VitkdLayerNorm: 2,
      VitkdLayerNormGradInput: 1,
      VitkdLayerNormGradParams: 1,
    },
    inputs: [[2, 5, 12], [12], [12]],
    run: (x, g, b) => fusedLayerNorm(x, tf.add(g, 1), b, 1e-5),
  },
  {
    name: "softmax",
    dispatches: { VitkdSoftmax: 2, VitkdSoftmaxGrad: 1 },
    inputs: [[3, 4, 7]],
    run: (x) => fusedSoftmax(tf.mul(x, 3)),
  },
  {
    name: "gelu",
    dispatches: { VitkdGelu: 2, VitkdGeluGrad: 1 },
    inputs: [[4, 33]],
    run: (x) => fusedGelu(tf.mul(x, 3)),
  },
  {
    name: "tokens to heads and back",
    dispatches: { VitkdTokensToHeads: 3, VitkdHeadsToTokens: 3 },
    inputs: [[2, 5, 24]],
    run: (x) => {
      const [q, k, v] = tokensToHeads(x as tf.Tensor3D, 2, 3, 0.5);
      const mixed = [tf.mul(q, k), tf.add(k, v), v] as tf.Tensor3D[];
      return headsToTokens(mixed, 2, 2);
    },
  },
  {
    name: "slice and pad tokens",
    dispatches: { VitkdSliceTokens: 3, VitkdPadTokens: 3 },
    inputs: [[3, 6, 4]],
    run: (x) => padTokens(sliceTokens(x as tf.Tensor3D, 1, 3), 2, 7),
  },
];

/** The output and the gradients of sum(output · w) for every input. */
async function valuesAndGrads(c: Case): Promise<Float32Array[]> {
  const outs = tf.tidy(() => {
    const xs = c.inputs.map((shape, i) =>
      tf.randomNormal(shape, 0, 1, "float32", 10 + i)
    );
    const y = c.run(...xs);
    const w = tf.randomNormal(y.shape, 0, 1, "float32", 99);
    const grads = tf.grads((...a: tf.Tensor[]) =>
      tf.sum(tf.mul(c.run(...a), w))
    )(
      xs,
    );
    return [y, ...grads];
  });
  const values = await Promise.all(outs.map((t) => t.data()));
  tf.dispose(outs);
  return values as Float32Array[];
}

for (const c of CASES) {
  Deno.test({
    name: `webgpu ${c.name}: values and gradients equal the wasm kernels`,
    ignore,
    fn: async () => {
      await initBackend({ backend: "wasm", native: "off" });
      const expected = await valuesAndGrads(c);
      await initBackend({ backend: "webgpu" });
      const { result: actual, work } = await countWebGpuWork(() =>
        valuesAndGrads(c)
      );
      expected.forEach((want, k) => {
        let scale = 1e-3;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        want.forEach((w, i) =>
          assert(
            Math.abs(actual[k][i] - w) <= 1e-5 * scale,
            `${c.name} output ${k}[${i}]: webgpu ${actual[k][i]}, wasm ${w}`,
          )
        );
      });
      for (const [kernel, n] of Object.entries(c.dispatches)) {
        assertEquals(work.byKernel[kernel], n, `${kernel}`);
      }
      await initBackend({ backend: "cpu" });
    },
  });
}
