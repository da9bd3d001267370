/**
 * Data benchmark: decode of the CIFAR-10 image folder (cold cache), the
 * cached reload, hash throughput and batch preparation speed.
 *
 *   deno run -A tasks/bench_data.ts [--root ../shared/datasets/cifar10] [--cache-dir DIR]
 *
 * Without --cache-dir a fresh temporary cache is used (and removed), so the
 * first load always decodes.
 */
import { parseTaskArgs } from "./_cli.ts";
import * as tf from "@tensorflow/tfjs";
import {
  CIFAR10_FOLDER_DEFAULT,
  computeNormalization,
  defaultAugmentation,
  hashBytes,
  type ImageDataset,
  iterateBatches,
  loadImageFolder,
  loadMnist,
} from "@vitkd/data";

const { args } = parseTaskArgs({
  command: "deno task bench:data",
  summary:
    `Decode (cold cache) and cached-load times of the CIFAR-10 image folder, hash
throughput and batch preparation speed.`,
  flags: {
    root: {
      arg: "DIR",
      default: CIFAR10_FOLDER_DEFAULT,
      help: "the CIFAR-10 image folder",
    },
    "cache-dir": {
      arg: "DIR",
      help: "decode cache (default: a fresh temporary one, removed after)",
    },
  },
});
const cacheDir = args["cache-dir"] ??
  await Deno.makeTempDir({ prefix: "vitkd-bench-data-" });
await tf.setBackend("cpu");

function perClass(ds: ImageDataset): string {
  const counts = ds.classNames.map(() => 0);
  for (const label of ds.labels) counts[label]++;
  return counts.join("/");
}

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const result = await fn();
  console.log(`${label}: ${((performance.now() - start) / 1000).toFixed(2)} s`);
  return result;
}

console.log(
  `machine: ${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs, deno ${Deno.version.deno}`,
);
try {
  for (const split of ["train", "test"] as const) {
    const events: string[] = [];
    const first = await timed(
      `${split} first load`,
      () =>
        loadImageFolder(args.root, split, {
          cacheDir,
          onCache: (e) => events.push(e.status),
        }),
    );
    console.log(
      `  ${first.count} images ${first.height}x${first.width}x${first.channels}, per class ${
        perClass(first)
      }, cache: ${events.join(",")}`,
    );
    events.length = 0;
    const second = await timed(
      `${split} cached load`,
      () =>
        loadImageFolder(args.root, split, {
          cacheDir,
          onCache: (e) => events.push(e.status),
        }),
    );
    console.log(
      `  cache: ${events.join(",")}, same fingerprint: ${
        second.fingerprint === first.fingerprint
      }`,
    );
    if (split === "train") {
      const mb = first.images.length / 1e6;
      const start = performance.now();
      hashBytes(first.images);
      const s = (performance.now() - start) / 1000;
      console.log(
        `hash ${mb.toFixed(1)} MB: ${s.toFixed(3)} s (${
          (mb / s).toFixed(0)
        } MB/s)`,
      );
      const norm = await timed(
        "computeNormalization",
        () => computeNormalization(first),
      );
      console.log(
        `  mean ${norm.mean.map((v) => v.toFixed(4))} std ${
          norm.std.map((v) => v.toFixed(4))
        }`,
      );
      const start2 = performance.now();
      let rows = 0;
      for await (
        const batch of iterateBatches(first, {
          batchSize: 256,
          seed: 1,
          augment: defaultAugmentation("cifar10-folder"),
          normalization: norm,
        })
      ) {
        rows += batch.size;
        batch.dispose();
        if (rows >= 20_000) break;
      }
      const bs = (performance.now() - start2) / 1000;
      console.log(
        `augmented batches: ${
          (rows / bs).toFixed(0)
        } images/s (batch 256, cpu tensors)`,
      );
    }
  }
  await timed(
    "mnist train load (npm IDX)",
    () => loadMnist({ split: "train" }),
  );
} finally {
  if (!args["cache-dir"]) await Deno.remove(cacheDir, { recursive: true });
}
