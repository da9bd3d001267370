/**
 * The fused ViT kernels against the stock tfjs ops they replace, at
 * vit-small's batch-64 shapes, forward and backward:
 *
 *   deno task bench:fused [--backend wasm] [--seconds 2]
 *
 * Prints the median milliseconds per call of each pair and the speed-up.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BackendChoice,
  describeBackend,
  fusedGelu,
  fusedLayerNorm,
  fusedSoftmax,
  headsToTokens,
  initBackend,
  tokensToHeads,
} from "@vitkd/backend";
import { parseTaskArgs } from "./_cli.ts";
import { machineLine } from "./_machine.ts";

const { args, fail } = parseTaskArgs({
  command: "deno task bench:fused",
  summary: `The fused ViT kernels (layer norm, GELU, softmax, head layouts)
against the stock tfjs ops they replace, at vit-small's batch-64 shapes,
forward and backward.`,
  flags: {
    backend: { arg: "NAME", default: "wasm", help: "backend to time on" },
    seconds: { arg: "N", default: "2", help: "seconds per figure" },
  },
});
const seconds = Number(args.seconds);
if (!(seconds > 0)) {
  fail(`--seconds: expected a positive number, got "${args.seconds}"`);
}

const backend = await initBackend({ backend: args.backend as BackendChoice });
console.log(machineLine());
console.log(`backend: ${describeBackend(backend)}`);

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

/** Median milliseconds per call of `run`, after one warm-up call. */
async function medianMs(run: () => Promise<void>): Promise<number> {
  await run();
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (times.length < 3 || performance.now() < end) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

console.log("\n| operation (fwd+bwd) | stock ms | fused ms | speed-up |");
console.log("|---|---:|---:|---:|");
for (let i = 0; i < cases.length; i += 2) {
  const [name, stock, x] = cases[i];
  const fused = cases[i + 1][1];
  const stockMs = await medianMs(both(stock, x));
  const fusedMs = await medianMs(both(fused, x));
  console.log(
    `| ${name} | ${stockMs.toFixed(2)} | ${fusedMs.toFixed(2)} | ${
      (stockMs / fusedMs).toFixed(2)
    }x |`,
  );
}
const roundTripMs = await medianMs(async () => {
  const joined = tf.tidy(() => headsToTokens(tokensToHeads(qkv, 4, 3), 4));
  await joined.data();
  joined.dispose();
});
console.log(
  `\nfused qkv -> heads -> tokens [64,67,384]: ${roundTripMs.toFixed(2)} ms`,
);
