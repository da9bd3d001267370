/**
 * Model benchmark: per model and backend, parameters, FLOPs per image,
 * training images/s (batch 64: forward, softmax cross-entropy over every head,
 * backward, Adam update), inference images/s at batch 64 and latency at
 * batch 1; then the two involution aggregation formulations side by side.
 *
 *   deno run -A tasks/bench_models.ts [--backend wasm,cpu]
 *     [--models vit-small,resnet8,rednet8] [--seconds 3] [--no-involution]
 *
 * Each measurement runs about --seconds (at least one timed step after the
 * warm-up), since the machine is shared.
 */
import { parseTaskArgs } from "./_cli.ts";
import { machineLine } from "./_machine.ts";
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "@vitkd/distill";
import {
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import {
  buildModel,
  foldBatchNorm,
  Involution,
  modelStats,
} from "@vitkd/models";

const { args, fail } = parseTaskArgs({
  command: "deno task bench:models",
  summary:
    `Parameters, FLOPs per image, training and inference images/s per model and
backend; then the two involution aggregation formulations side by side.`,
  flags: {
    backend: { arg: "LIST", default: "wasm,cpu", help: "backends" },
    models: {
      arg: "LIST",
      default: "vit-small,resnet8,rednet8",
      help: "models from the registry",
    },
    seconds: { arg: "N", default: "3", help: "seconds per measurement" },
    batch: { arg: "N", default: "64", help: "training and inference batch" },
    involution: {
      default: true,
      negatable: true,
      help: "compare the involution formulations (default on)",
    },
  },
});
const backends = args.backend.split(",").map((b: string) => b.trim()).filter(
  Boolean,
) as BackendChoice[];
const models = args.models.split(",").map((m: string) => m.trim()).filter(
  Boolean,
);
const seconds = Number(args.seconds);
const batch = Number(args.batch);
if (!(seconds > 0) || !Number.isInteger(batch) || batch < 1) {
  fail(
    `--seconds must be > 0 and --batch an integer >= 1, got ${args.seconds} and ${args.batch}`,
  );
}

console.log(machineLine());

/** Runs `step` for about `seconds` after `warmup` untimed runs; returns seconds per run. */
async function timeIt(
  step: () => Promise<void>,
  warmup: number,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await step();
  const start = performance.now();
  let runs = 0;
  do {
    await step();
    runs++;
  } while (performance.now() - start < seconds * 1000);
  return (performance.now() - start) / 1000 / runs;
}

async function medianLatency(step: () => Promise<void>): Promise<number> {
  await step();
  const times: number[] = [];
  const start = performance.now();
  do {
    const t = performance.now();
    await step();
    times.push(performance.now() - t);
  } while (performance.now() - start < seconds * 500 && times.length < 200);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function lossOf(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  labels: tf.Tensor2D,
): tf.Scalar {
  const out = model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
  const heads = Array.isArray(out) ? out : [out];
  return heads.map((h) => tf.losses.softmaxCrossEntropy(labels, h) as tf.Scalar)
    .reduce((a, b) => tf.add(a, b));
}

const rows: string[] = [];
const fmt = (n: number, digits = 1) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits });
for (const backend of backends) {
  const info = await initBackend({ backend });
  console.log(`backend: ${describeBackend(info)}`);
  for (const name of models) {
    const model = buildModel(name, { seed: 1 });
    const stats = modelStats(model);
    const [h, w, c] = model.inputs[0].shape.slice(1) as number[];
    const classes = (model.outputs[0].shape[1] as number) ?? 10;
    const x = tf.randomNormal(
      [batch, h, w, c],
      0,
      1,
      "float32",
      1,
    ) as tf.Tensor4D;
    const x1 = tf.slice(x, [0, 0, 0, 0], [1, h, w, c]) as tf.Tensor4D;
    const labels = tf.tidy(() =>
      tf.oneHot(
        tf.randomUniform([batch], 0, classes, "int32", 2),
        classes,
      ) as tf.Tensor2D
    );
    // The product's optimizer (AdamW, @vitkd/distill) without weight decay:
    // Adam, as PyTorch's figure uses. On wasm each variable's update is one
    // fused kernel; tf.train.adam runs about fourteen a variable.
    const optimizer = new AdamW(
      model.trainableWeights.map((w) => w.read() as tf.Variable),
      { learningRate: 1e-3, weightDecay: 0 },
    );
    const trainStep = async () => {
      const { value, grads } = tf.variableGrads(
        () => lossOf(model, x, labels),
        [...optimizer.variables],
      );
      optimizer.step(grads);
      tf.dispose(grads);
      await value.data();
      value.dispose();
    };
    // Inference as precompute runs it: batch norms folded into the
    // convolutions (a no-op for models without batch norm).
    const inference = (await foldBatchNorm(model)).model;
    const predict = (input: tf.Tensor4D) => async () => {
      // One batch of 64, as PyTorch's figure (predict's default cuts 32s).
      const out = inference.predict(input, { batchSize: batch }) as
        | tf.Tensor
        | tf.Tensor[];
      const outs = Array.isArray(out) ? out : [out];
      await Promise.all(outs.map((t) => t.data()));
      tf.dispose(outs);
    };
    const trainSeconds = await timeIt(trainStep, 2);
    // counted after the warm-up, which creates Adam's moment variables
    const tensorsBefore = tf.memory().numTensors;
    await trainStep();
    const inferSeconds = await timeIt(predict(x), 1);
    const latencyMs = await medianLatency(predict(x1));
    const leaked = tf.memory().numTensors - tensorsBefore;
    const trainRate = batch / trainSeconds;
    rows.push(
      `| ${name} | ${info.name} | ${fmt(stats.parameters, 0)} | ${
        fmt(stats.flopsPerImage / 1e6)
      } | ${fmt(trainRate)} | ${fmt(50_000 / trainRate / 60)} | ${
        fmt(batch / inferSeconds)
      } | ${fmt(latencyMs, 2)} |${
        leaked > 0 ? ` leaked ${leaked} tensors` : ""
      }`,
    );
    console.log(rows[rows.length - 1]);
    optimizer.dispose();
    tf.dispose([x, x1, labels]);
    inference.dispose();
    model.dispose();
  }
}
console.log(
  `\n## models (batch ${batch}; train = forward + softmax CE + backward + Adam)`,
);
console.log(
  "| model | backend | parameters | MFLOPs/image | train img/s | CIFAR-10 epoch min | infer img/s | latency b=1 ms |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);

if (args.involution) {
  // The two aggregation formulations on the shape of rednet8's first stage.
  console.log(
    `\n## involution aggregation, input [${batch},32,32,16], K=3, 16 channels/group`,
  );
  console.log(
    "| backend | aggregation | stride | forward+backward ms | forward ms |",
  );
  console.log("|---|---|---|---|---|");
  for (const backend of backends) {
    await initBackend({ backend });
    for (const stride of [1, 2]) {
      for (const aggregation of ["slices", "unfold"] as const) {
        const layer = new Involution({
          kernelSize: 3,
          strides: stride,
          groupChannels: 16,
          aggregation,
          seed: 1,
        });
        const x = tf.randomNormal(
          [batch, 32, 32, 16],
          0,
          1,
          "float32",
          3,
        ) as tf.Tensor4D;
        layer.apply(x);
        const variables = layer.trainableWeights.map((v) =>
          v.read() as tf.Variable
        );
        const forward = async () => {
          const y = layer.apply(x, { training: true }) as tf.Tensor;
          await y.data();
          y.dispose();
        };
        const both = async () => {
          const { value, grads } = tf.variableGrads(
            () =>
              tf.sum(
                layer.apply(x, { training: true }) as tf.Tensor,
              ) as tf.Scalar,
            variables,
          );
          await Promise.all(Object.values(grads).map((g) => g.data()));
          tf.dispose([value, ...Object.values(grads)]);
        };
        const fb = await timeIt(both, 1);
        const f = await timeIt(forward, 1);
        console.log(
          `| ${backend} | ${aggregation} | ${stride} | ${fmt(fb * 1000)} | ${
            fmt(f * 1000)
          } |`,
        );
        x.dispose();
        layer.dispose();
      }
    }
  }
}
