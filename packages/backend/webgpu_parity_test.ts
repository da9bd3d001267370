// Forward and backward passes on the WebGPU backend against cpu. Here the
// adapter is usually Mesa's llvmpipe (software), so shader compilation makes
// each case take seconds; the models are kept tiny.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { assertAllClose, onBackend } from "./wasm_kernels/_test_util.ts";
import {
  lossAndGrads,
  type TestModel,
  TRANSFORMER_BLOCK,
} from "./wasm_kernels/_test_models.ts";

async function adapterDescription(): Promise<string | undefined> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return undefined;
  return adapter.info.description || adapter.info.vendor || "unnamed adapter";
}

const adapter = await adapterDescription();
const ignore = adapter === undefined;
if (ignore) {
  console.log(
    "webgpu_parity_test: skipped, Deno offers no WebGPU adapter on this machine",
  );
}

/** conv 3x3 + batch norm + relu, global mean, dense. */
const CONV_BN_DENSE: TestModel = {
  name: "conv + batch norm + relu + dense",
  input: [2, 6, 6, 3],
  params: { w: [3, 3, 3, 4], gamma: [4], beta: [4], dense: [4, 5], bias: [5] },
  loss(p, x, labels) {
    const h = tf.conv2d(x as tf.Tensor4D, p.w as tf.Tensor4D, 1, "same");
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    const normed = tf.relu(
      tf.batchNorm(h, mean, variance, p.beta, p.gamma, 1e-3),
    );
    const logits = tf.add(tf.matMul(tf.mean(normed, [1, 2]), p.dense), p.bias);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  },
};

// GPU float32 reductions run in another order than cpu: rtol 1e-3 / atol 1e-4.
const TOLERANCE = { rtol: 1e-3, atol: 1e-4 };

for (const model of [CONV_BN_DENSE, TRANSFORMER_BLOCK]) {
  Deno.test({
    name: `webgpu (${
      adapter ?? "no adapter"
    }) = cpu: ${model.name}, loss and gradients`,
    ignore,
    fn: async () => {
      const expected = await onBackend("cpu", () => lossAndGrads(model));
      const actual = await onBackend("webgpu", () => lossAndGrads(model));
      const names = ["loss", ...Object.keys(model.params).map((n) => `d${n}`)];
      actual.forEach((a, i) =>
        assertAllClose(a, expected[i], TOLERANCE, `${model.name} ${names[i]}`)
      );
    },
  });
}
