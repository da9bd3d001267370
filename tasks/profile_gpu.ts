/**
 * Counts, for one training step per model on WebGPU, the dispatches by
 * program, the host uploads and the GPU reads. Counted without running the
 * programs, so any adapter (a software one too) gives the same figures: on a
 * GPU these counts are a step's cost (about 0.1 ms per dispatch through
 * tfjs, 10 ms or more per read), as docs/performance.md explains.
 *
 *   deno task profile:gpu [--models vit-small,resnet8,rednet8] [--batch 64]
 */
import { parseArgs } from "@std/cli/parse-args";
import * as tf from "@tensorflow/tfjs";
import { countWebGpuWork, initBackend } from "@vitkd/backend";
import { stepFixture } from "./gpu/step_fixture.ts";

const HELP = `deno task profile:gpu [--models LIST] [--batch N]

Dispatches by program, uploads and reads of one training step on WebGPU.

  --models LIST   models from the registry (default vit-small,resnet8,rednet8)
  --batch N       batch size (default 64)
  -h, --help      this text
`;

const args = parseArgs(Deno.args, {
  string: ["models", "batch"],
  boolean: ["help"],
  alias: { h: "help" },
  default: { models: "vit-small,resnet8,rednet8", batch: "64" },
  unknown: (flag: string) => {
    if (!flag.startsWith("-")) return true;
    console.error(`profile:gpu: unknown option ${flag}\n\n${HELP}`);
    Deno.exit(2);
  },
});
if (args.help) {
  console.log(HELP);
  Deno.exit(0);
}
const batch = Number(args.batch);
if (!Number.isInteger(batch) || batch < 1) {
  console.error(
    `profile:gpu: --batch must be a whole number >= 1, got ${args.batch}`,
  );
  Deno.exit(2);
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
