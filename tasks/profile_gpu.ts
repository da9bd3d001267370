/**
 * Counts, for one training step per model on WebGPU, the dispatches by
 * program, the host uploads and the GPU reads. Counted without running the
 * programs, so any adapter (a software one too) gives the same figures: on a
 * GPU these counts are a step's cost (about 0.1 ms per dispatch through
 * tfjs, 10 ms or more per read), as docs/performance.md explains.
 *
 *   deno task profile:gpu [--models vit-small,resnet8,rednet8] [--batch 64]
 */
import { parseTaskArgs } from "./_cli.ts";
import * as tf from "@tensorflow/tfjs";
import { countWebGpuWork, initBackend } from "@vitkd/backend";
import { stepFixture } from "./gpu/step_fixture.ts";

const { args, fail } = parseTaskArgs({
  command: "deno task profile:gpu",
  summary:
    "Dispatches by program, uploads and reads of one training step on WebGPU.",
  flags: {
    models: {
      arg: "LIST",
      default: "vit-small,resnet8,rednet8",
      help: "models from the registry",
    },
    batch: { arg: "N", default: "64", help: "batch size" },
  },
});
const batch = Number(args.batch);
if (!Number.isInteger(batch) || batch < 1) {
  fail(`--batch must be a whole number >= 1, got ${args.batch}`);
}
const info = await initBackend({ backend: "webgpu" });
console.log(`adapter: ${info.adapter}`);
for (
  const name of args.models.split(",").map((s: string) => s.trim()).filter(
    Boolean,
  )
) {
  const fixture = stepFixture(name, batch);
  const step = () => tf.dispose(Object.values(fixture.step()));
  await countWebGpuWork(step, { skipCompute: true });
  const { work } = await countWebGpuWork(step, { skipCompute: true });
  console.log(
    `\n${name}, batch ${batch}: ${work.dispatches} dispatches, ${work.uploads} uploads (${work.uploadBytes} bytes; the batch is ${fixture.batchBytes}), ${work.reads} reads`,
  );
  for (
    const [kernel, n] of Object.entries(work.byKernel).sort((a, b) =>
      b[1] - a[1]
    )
  ) {
    console.log(`  ${String(n).padStart(5)}  ${kernel}`);
  }
  fixture.dispose();
}
