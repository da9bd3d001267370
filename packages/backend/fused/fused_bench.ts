// Fused ViT kernels vs the stock tfjs ops they replace, at vit-small's
// batch-64 shapes, on wasm:
//   deno bench -A packages/backend/fused/fused_bench.ts
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../init.ts";
import {
  fusedGelu,
  fusedLayerNorm,
  fusedSoftmax,
  headsToTokens,
  tokensToHeads,
} from "./ops.ts";

await initBackend({ backend: "wasm" });

const tokens = tf.randomNormal([64, 67, 128], 0, 1, "float32", 1);
const gamma = tf.randomNormal([128], 1, 0.1, "float32", 2);
const beta = tf.randomNormal([128], 0, 0.1, "float32", 3);
const hidden = tf.randomNormal([64, 67, 256], 0, 1, "float32", 4);
const scores = tf.randomNormal([256, 67, 67], 0, 2, "float32", 5);
const qkv = tf.randomNormal([64, 67, 384], 0, 1, "float32", 6) as tf.Tensor3D;

function stockLayerNorm(x: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(
    tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), gamma),
    beta,
  );
}

function stockGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
}

function stockHeads(x: tf.Tensor3D): tf.Tensor[] {
  return [0, 1, 2].map((p) =>
    tf.reshape(
      tf.transpose(
        tf.reshape(tf.slice(x, [0, 0, p * 128], [64, 67, 128]), [
          64,
          67,
          4,
          32,
        ]),
        [0, 2, 1, 3],
      ),
      [256, 67, 32],
    )
  );
}

// Forward and backward of sum(f(x) * x), so both directions are timed.
function both(f: (x: tf.Tensor) => tf.Tensor | tf.Tensor[], x: tf.Tensor) {
  return async () => {
    const grad = tf.tidy(() =>
      tf.grad((a: tf.Tensor) => {
        const out = f(a);
        return tf.addN(
          (Array.isArray(out) ? out : [out]).map((o) => tf.sum(o)),
        );
      })(x)
    );
    await grad.data();
    grad.dispose();
  };
}

const cases: [string, (x: tf.Tensor) => tf.Tensor | tf.Tensor[], tf.Tensor][] =
  [
    ["layer norm [64,67,128]", stockLayerNorm, tokens],
    [
      "layer norm [64,67,128]",
      (x) => fusedLayerNorm(x, gamma, beta, 1e-6),
      tokens,
    ],
    ["gelu [64,67,256]", stockGelu, hidden],
    ["gelu [64,67,256]", (x) => fusedGelu(x), hidden],
    ["softmax [256,67,67]", (x) => tf.softmax(x), scores],
    ["softmax [256,67,67]", (x) => fusedSoftmax(x), scores],
    ["qkv to heads [64,67,384]", (x) => stockHeads(x as tf.Tensor3D), qkv],
    [
      "qkv to heads [64,67,384]",
      (x) => tokensToHeads(x as tf.Tensor3D, 4, 3),
      qkv,
    ],
  ];
cases.forEach(([name, f, x], i) => {
  const group = name;
  Deno.bench({
    name: `${i % 2 === 0 ? "stock" : "fused"} ${name} fwd+bwd`,
    group,
    baseline: i % 2 === 0,
    fn: both(f, x),
  });
});
Deno.bench({
  name: "fused heads to tokens [256,67,32] x3",
  fn: async () => {
    const joined = tf.tidy(() => headsToTokens(tokensToHeads(qkv, 4, 3), 4));
    await joined.data();
    joined.dispose();
  },
});
