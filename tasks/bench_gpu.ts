/**
 * GPU benchmark: for each model and batch size, training and inference
 * images/s on Deno's WebGPU, dispatches per training step, and the achieved
 * GFLOP/s as a fraction of the adapter's fp32 peak. A training step is the
 * product's (forward, the distillation objective, backward, clipping, fused
 * AdamW); its losses are read once per timed run, as the trainer does.
 *
 *   deno task bench:gpu [--models vit-small,resnet8,rednet8]
 *     [--batches 64,256,1024] [--seconds 3] [--peak-tflops N]
 *     [--allow-software]
 *
 * It refuses a software adapter (llvmpipe), whose figures say nothing about
 * a GPU, unless --allow-software is given for a smoke run; the output then
 * says so on every row.
 */
import * as tf from "@tensorflow/tfjs";
import { countWebGpuWork, describeBackend, initBackend } from "@vitkd/backend";
import { modelStats } from "@vitkd/models";
import { runSteps, stepFixture } from "./gpu/step_fixture.ts";
import { parseTaskArgs } from "./_cli.ts";

// Dense fp32 peaks (vendor data sheets, boost clock), matched against the
// adapter's description.
const FP32_PEAK_TFLOPS: [RegExp, number][] = [
  [/H200/i, 66.9],
  [/H100.*PCIe/i, 51.2],
  [/H100/i, 66.9],
  [/A100/i, 19.5],
  [/L40S/i, 91.6],
  [/L4\b/i, 30.3],
  [/RTX 4090/i, 82.6],
  [/A10\b/i, 31.2],
  [/T4\b/i, 8.1],
];

const { args, fail } = parseTaskArgs({
  command: "deno task bench:gpu",
  summary:
    `Training and inference img/s, dispatches per step and the fraction of fp32
peak reached, per model and batch size, on WebGPU.`,
  flags: {
    models: {
      arg: "LIST",
      default: "vit-small,resnet8,rednet8",
      help: "models from the registry",
    },
    batches: { arg: "LIST", default: "64,256,1024", help: "batch sizes" },
    seconds: {
      arg: "N",
      default: "3",
      help: "seconds per timed measurement",
    },
    "peak-tflops": {
      arg: "N",
      help: "the adapter's fp32 peak, when the table in the source lacks it",
    },
    "allow-software": {
      help: "run on a software adapter (smoke test; not GPU figures)",
    },
  },
});
const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
const models = list(args.models);
const batches = list(args.batches).map(Number);
const seconds = Number(args.seconds);
if (
  !(seconds > 0) || batches.some((b) => !Number.isInteger(b) || b < 1)
) {
  fail(
    `--seconds must be > 0 and --batches whole numbers >= 1, got ${args.seconds} and ${args.batches}`,
  );
}

let info;
try {
  info = await initBackend({ backend: "webgpu" });
} catch (error) {
  console.error(`bench:gpu: ${(error as Error).message}`);
  Deno.exit(2);
}
const adapter = info.adapter ?? "unknown adapter";
if (info.adapterIsFallback && !args["allow-software"]) {
  console.error(
    `bench:gpu: the adapter is a software fallback (${adapter}); its figures are not GPU figures. Run on a machine with a GPU, or pass --allow-software for a smoke run.`,
  );
  Deno.exit(2);
}
const software = info.adapterIsFallback === true;
const peakTflops = args["peak-tflops"] !== undefined
  ? Number(args["peak-tflops"])
  : FP32_PEAK_TFLOPS.find(([re]) => re.test(adapter))?.[1];

console.log(
  `machine: ${adapter}${
    software ? " (SOFTWARE ADAPTER: NOT GPU FIGURES)" : ""
  }; fp32 peak ${
    peakTflops ? `${peakTflops} TFLOP/s` : "unknown (--peak-tflops)"
  }; ${describeBackend(info)}; deno ${Deno.version.deno}; ${
    new Date().toISOString()
  }`,
);

/** Runs `run` (one unit of `items` images) for about `seconds`; items/s. */
async function rate(
  run: () => Promise<void>,
  items: number,
): Promise<number> {
  let done = 0;
  const start = performance.now();
  do {
    await run();
    done += items;
  } while (performance.now() - start < seconds * 1000);
  return done / ((performance.now() - start) / 1000);
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits });
const rows: string[] = [];
for (const name of models) {
  for (const batch of batches) {
    const fixture = stepFixture(name, batch);
    try {
      const flops = modelStats(fixture.model).flopsPerImage;
      // warm-up: compiles the pipelines and makes the optimizer's moments
      await runSteps(fixture, 2);
      const { work } = await countWebGpuWork(() =>
        tf.dispose(Object.values(fixture.step()))
      );
      // steps queue without reads, as in training; one read per 8 steps
      const train = await rate(
        () => runSteps(fixture, 8).then(() => {}),
        8 * batch,
      );
      const x = tf.randomNormal(
        [batch, ...fixture.model.inputs[0].shape.slice(1) as number[]],
      );
      const infer = await rate(async () => {
        const out = fixture.model.predict(x, { batchSize: batch });
        const outs = Array.isArray(out) ? out : [out];
        await outs[0].data();
        tf.dispose(outs);
      }, batch);
      x.dispose();
      // a training step is about 3x the forward pass's FLOPs
      const gflops = (3 * flops * train) / 1e9;
      const peak = peakTflops
        ? `${fmt((100 * gflops) / (peakTflops * 1000), 2)} %`
        : "n/a";
      rows.push(
        `| ${name} | ${batch} | ${fmt(train)} | ${
          fmt(infer)
        } | ${work.dispatches} | ${work.uploads} | ${
          fmt(gflops, 1)
        } | ${peak} |${software ? " software |" : ""}`,
      );
      console.log(rows.at(-1));
    } catch (error) {
      rows.push(`| ${name} | ${batch} | failed: ${(error as Error).message} |`);
      console.log(rows.at(-1));
    } finally {
      fixture.dispose();
    }
  }
}
console.log(
  "\n| model | batch | train img/s | infer img/s | dispatches/step | uploads/step | train GFLOP/s | of fp32 peak |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
