/**
 * Native BLAS benchmark: sgemm GFLOP/s through FFI against wasm matmul, and
 * training / inference img/s of the three reference models on wasm with the
 * native path off and on.
 *
 *   deno run -A tasks/bench_native.ts [--batch 64] [--models resnet8,rednet8,vit-small]
 *     [--seconds 6] [--sizes 256,1024] [--skip-off]
 *
 * A training step is forward, cross-entropy (summed over the student's
 * heads), backward and Adam. "off" is the pure wasm path as `initBackend`
 * sets it up (stock wasm plus the project's wasm training kernels).
 */
import { parseTaskArgs } from "./_cli.ts";
import { machineLine } from "./_machine.ts";
import * as tf from "@tensorflow/tfjs";
import { describeBackend, initBackend } from "@vitkd/backend";
import { loadNativeBlas } from "@vitkd/backend/native";
import { buildModel } from "@vitkd/models";

const { args, fail } = parseTaskArgs({
  command: "deno task bench:native",
  summary: `Native BLAS (FFI) against pure wasm: sgemm GFLOP/s, and training and
inference img/s of the reference models with the native path off and on.`,
  flags: {
    batch: { arg: "N", default: "64", help: "batch size" },
    models: {
      arg: "LIST",
      default: "resnet8,rednet8,vit-small",
      help: "models from the registry",
    },
    seconds: { arg: "N", default: "6", help: "seconds per measurement" },
    sizes: { arg: "LIST", default: "256,1024", help: "square sgemm sizes" },
    "skip-off": { help: "measure only the native path (not pure wasm)" },
  },
});
function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    fail(`--${flag}: expected a positive integer, got "${text}"`);
  }
  return value;
}

const batch = positiveInteger("batch", args.batch);
const seconds = Number(args.seconds);
if (!(seconds > 0)) {
  fail(`--seconds: expected a positive number, got "${args.seconds}"`);
}
const modelNames = args.models.split(",").filter(Boolean);
const sizes = args.sizes.split(",").map((s: string) =>
  positiveInteger("sizes", s)
);

// Runs `step` until `seconds` have passed (at least `minimum` times, after
// one warm-up) and returns the mean seconds per step.
async function timeSteps(
  step: () => Promise<void> | void,
  minimum = 2,
): Promise<number> {
  await step();
  let count = 0;
  const start = performance.now();
  while (count < minimum || performance.now() - start < seconds * 1000) {
    await step();
    count++;
  }
  return (performance.now() - start) / 1000 / count;
}

async function matmulGflops(
  n: number,
  transposeB: boolean,
): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const perStep = await timeSteps(async () => {
    const c = tf.matMul(a, b, false, transposeB);
    await c.data();
    c.dispose();
  });
  tf.dispose([a, b]);
  return 2 * n ** 3 / perStep / 1e9;
}

function rawSgemmGflops(n: number): number {
  const { blas } = loadNativeBlas();
  if (!blas) return NaN;
  const memory = new WebAssembly.Memory({
    initial: Math.ceil((3 * n * n * 4) / 65536),
  });
  new Float32Array(memory.buffer).fill(0.5);
  const run = () =>
    blas.sgemm(
      memory.buffer,
      false,
      false,
      n,
      n,
      n,
      1,
      0,
      n,
      n * n * 4,
      n,
      0,
      2 * n * n * 4,
      n,
    );
  run();
  let count = 0;
  const start = performance.now();
  while (count < 3 || performance.now() - start < 1000) {
    run();
    count++;
  }
  return 2 * n ** 3 * count / ((performance.now() - start) / 1000) / 1e9;
}

interface ModelSpeed {
  train: number;
  infer: number;
}

async function modelSpeed(name: string): Promise<ModelSpeed> {
  const model = buildModel(name, { seed: 1 });
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal<tf.Rank>([batch].concat(inputShape)) as tf.Tensor4D;
  const labels = tf.oneHot(
    tf.randomUniform([batch], 0, 10, "int32") as tf.Tensor1D,
    10,
  );
  const optimizer = tf.train.adam(1e-3);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const trainStep = async () => {
    const loss = optimizer.minimize(
      () => {
        const out = model.apply(x, { training: true }) as
          | tf.Tensor
          | tf.Tensor[];
        const heads = Array.isArray(out) ? out : [out];
        return tf.addN(
          heads.map((h) => tf.losses.softmaxCrossEntropy(labels, h)),
        ) as tf.Scalar;
      },
      true,
      variables,
    );
    await loss!.data();
    loss!.dispose();
  };
  const inferStep = async () => {
    const out = model.predict(x) as tf.Tensor | tf.Tensor[];
    const heads = Array.isArray(out) ? out : [out];
    await heads[0].data();
    tf.dispose(heads);
  };
  // Adam makes its state on the first step; after that the count is flat.
  await trainStep();
  const numTensors = tf.memory().numTensors;
  const train = batch / await timeSteps(trainStep);
  const infer = batch / await timeSteps(inferStep);
  const leaked = tf.memory().numTensors - numTensors;
  optimizer.dispose();
  model.dispose();
  tf.dispose([x, labels]);
  if (leaked !== 0) console.warn(`  warning: ${name} leaked ${leaked} tensors`);
  return { train, infer };
}

console.log(machineLine());
const { status } = loadNativeBlas();
console.log(
  status.available
    ? `native BLAS: ${status.library}, ${status.threads} threads`
    : `native BLAS unavailable: ${status.reason}`,
);
console.log(`batch ${batch}, each figure timed over >= ${seconds} s\n`);

const modes = args["skip-off"] ? ["auto"] as const : ["off", "auto"] as const;
const matmul: Record<string, Record<string, number>> = {};
const models: Record<string, Record<string, ModelSpeed>> = {};
for (const native of modes) {
  if (native === "auto" && !status.available) break;
  const info = await initBackend({ backend: "wasm", native });
  console.log(`backend: ${describeBackend(info)}`);
  for (const n of sizes) {
    for (const transposeB of [false, true]) {
      const label = `matMul ${n}^3${transposeB ? " (b transposed)" : ""}`;
      (matmul[label] ??= {})[native] = await matmulGflops(n, transposeB);
      console.log(`  ${label}: ${matmul[label][native].toFixed(1)} GFLOP/s`);
    }
  }
  for (const name of modelNames) {
    (models[name] ??= {})[native] = await modelSpeed(name);
    const s = models[name][native];
    console.log(
      `  ${name}: train ${s.train.toFixed(1)} img/s, infer ${
        s.infer.toFixed(1)
      } img/s`,
    );
  }
}

if (status.available) {
  console.log("\nraw sgemm through FFI (no tfjs):");
  for (const n of sizes) {
    console.log(`  ${n}^3: ${rawSgemmGflops(n).toFixed(1)} GFLOP/s`);
  }
}

const fmt = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(1));
console.log("\nsummary (wasm, native off -> on):");
for (const [label, by] of Object.entries(matmul)) {
  console.log(`  ${label}: ${fmt(by.off)} -> ${fmt(by.auto)} GFLOP/s`);
}
for (const [name, by] of Object.entries(models)) {
  console.log(
    `  ${name}: train ${fmt(by.off?.train)} -> ${fmt(by.auto?.train)} img/s, ` +
      `infer ${fmt(by.off?.infer)} -> ${fmt(by.auto?.infer)} img/s`,
  );
}
