/**
 * Per-kernel profile of one training step or one inference batch of a
 * model: the kernels by total time, their call counts, and the step's wall
 * time. Where `docs/performance.md`'s "where the time goes" tables come from.
 *
 *   deno run -A tasks/profile_models.ts [--model resnet8] [--mode infer|train]
 *     [--batch 64] [--backend wasm] [--top 12]
 *
 * Kernel times are wall time around each kernel call (every kernel of the
 * backend wrapped with a timer), so they include the helper thread's share
 * of a shared kernel.
 */
import { parseTaskArgs } from "./_cli.ts";
import * as tf from "@tensorflow/tfjs";
import {
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import { buildModel, foldBatchNorm } from "@vitkd/models";
import { AdamW } from "@vitkd/distill";

const { args, fail } = parseTaskArgs({
  command: "deno task profile:models",
  summary:
    `Per-kernel profile of one training step or inference batch: kernels by
total time, their call counts and the step's wall time.`,
  flags: {
    model: { arg: "NAME", default: "resnet8", help: "model from the registry" },
    mode: { arg: "MODE", default: "infer", help: "infer or train" },
    batch: { arg: "N", default: "64", help: "batch size" },
    backend: { arg: "NAME", default: "wasm", help: "tfjs backend" },
    top: { arg: "N", default: "12", help: "kernels listed" },
  },
});
const batch = Number(args.batch);
const top = Number(args.top);
if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(top)) {
  fail(
    `--batch and --top take positive integers, got ${args.batch} and ${args.top}`,
  );
}
if (args.mode !== "infer" && args.mode !== "train") {
  fail(`--mode is infer or train, got "${args.mode}"`);
}

const info = await initBackend({ backend: args.backend as BackendChoice });
console.log(`backend: ${describeBackend(info)}`);
const model = buildModel(args.model, { seed: 1 });
// inference as precompute and bench:models run it: batch norms folded
const inference = args.mode === "infer"
  ? (await foldBatchNorm(model)).model
  : model;
const [h, w, c] = model.inputs[0].shape.slice(1) as number[];
const classes = model.outputs[0].shape[1] as number;
const x = tf.randomNormal([batch, h, w, c], 0, 1, "float32", 1);
const labels = tf.oneHot(
  tf.randomUniform([batch], 0, classes, "int32", 2) as tf.Tensor1D,
  classes,
);
// The product's optimizer without weight decay (Adam), as bench:models
// trains: on wasm one fused kernel a variable.
const optimizer = new AdamW(
  model.trainableWeights.map((w) => w.read() as tf.Variable),
  { learningRate: 1e-3, weightDecay: 0 },
);

function step(): tf.Tensor {
  if (args.mode === "infer") {
    const out = inference.predict(x, { batchSize: batch });
    const heads = Array.isArray(out) ? out : [out];
    return tf.addN(heads);
  }
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
    const heads = Array.isArray(out) ? out : [out];
    return heads.map((head) =>
      tf.losses.softmaxCrossEntropy(labels, head) as tf.Scalar
    ).reduce((a, b) => tf.add(a, b));
  }, [...optimizer.variables]);
  optimizer.step(grads);
  tf.dispose(grads);
  return value;
}

async function timedStep(): Promise<number> {
  const started = performance.now();
  const out = step();
  await out.data();
  out.dispose();
  return performance.now() - started;
}

for (let i = 0; i < 3; i++) await timedStep();
const walls: number[] = [];
for (let i = 0; i < 10; i++) walls.push(await timedStep());
walls.sort((a, b) => a - b);
// Each kernel registered for the backend is wrapped with a timer for one
// step. tf.profile was tried first: it inflated some kernels several times
// over (the layer-norm gradient read 10-13 ms per call in a step against 2.1-2.4
// ms timed like this).
const byKernel = new Map<string, { ms: number; calls: number }>();
let recording = false;
for (const config of tf.getKernelsForBackend(tf.getBackend())) {
  const inner = config.kernelFunc;
  (config as { kernelFunc: tf.KernelFunc }).kernelFunc = (kernelArgs) => {
    if (!recording) return inner(kernelArgs);
    const started = performance.now();
    try {
      return inner(kernelArgs);
    } finally {
      const entry = byKernel.get(config.kernelName) ?? { ms: 0, calls: 0 };
      entry.ms += performance.now() - started;
      entry.calls++;
      byKernel.set(config.kernelName, entry);
    }
  };
}
recording = true;
const profiledMs = await timedStep();
recording = false;
const kernelCount = [...byKernel.values()].reduce((a, e) => a + e.calls, 0);
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
const kernelMs = rows.reduce((sum, [, e]) => sum + e.ms, 0);
// Kernels that run other kernels (a fused op calling Add) count both.
console.log(
  `\n${args.model} ${args.mode}, batch ${batch}: median step ${
    walls[walls.length >> 1].toFixed(1)
  } ms (${
    (batch / walls[walls.length >> 1] * 1000).toFixed(0)
  } img/s); timed step ${profiledMs.toFixed(1)} ms, ${
    kernelMs.toFixed(1)
  } ms of it in ${kernelCount} kernel calls\n`,
);
console.log("| kernel | calls | ms |\n|---|---:|---:|");
for (const [name, e] of rows.slice(0, top)) {
  console.log(`| ${name} | ${e.calls} | ${e.ms.toFixed(2)} |`);
}
tf.dispose([x, labels]);
optimizer.dispose();
model.dispose();
