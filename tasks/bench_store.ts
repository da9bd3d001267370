/**
 * Logit store benchmark: bytes per image for each encoding at C = 10, 100,
 * 1000; random-batch read time against a raw sequential read of the same
 * file; precompute speed against the teachers' own inference speed.
 *
 *   deno run -A tasks/bench_store.ts [--backend auto|wasm|cpu|webgpu]
 *     [--read-images 20000] [--precompute-images 256] [--dir DIR]
 *
 * Files go to a temporary folder (or --dir) and are removed at the end.
 */
import { parseTaskArgs } from "./_cli.ts";
import * as tf from "@tensorflow/tfjs";
import {
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import { buildModel } from "@vitkd/models";
import {
  describeEncoding,
  openStore,
  precompute,
  type StoreEncoding,
  type StoreTeacher,
} from "@vitkd/logit-store";

const { args } = parseTaskArgs({
  command: "deno task bench:store",
  summary:
    `Logit store: bytes per image per encoding, random-batch reads against a raw
sequential read, precompute speed against the teachers' inference speed.`,
  flags: {
    backend: {
      arg: "NAME",
      default: "auto",
      help: "auto, wasm, cpu or webgpu",
    },
    "read-images": {
      arg: "N",
      default: "20000",
      help: "images in the read benchmark's store",
    },
    "precompute-images": {
      arg: "N",
      default: "256",
      help: "images precomputed",
    },
    dir: {
      arg: "DIR",
      help: "where the files go (default: a temporary folder); removed after",
    },
  },
});
const info = await initBackend({ backend: args.backend as BackendChoice });
const dir = args.dir ??
  await Deno.makeTempDir({ prefix: "vitkd-bench-store-" });
await Deno.mkdir(dir, { recursive: true });
console.log(
  `machine: ${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} logical CPUs, deno ${Deno.version.deno}`,
);
console.log(`backend: ${describeBackend(info)}`);
if (Deno.build.os === "linux") {
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ");
  console.log(`load average at start: ${load.slice(0, 3).join(" ")}`);
}

function dataset(
  count: number,
  h: number,
  w: number,
  c: number,
  classes: number,
) {
  const images = new Uint8Array(count * h * w * c);
  let s = 1;
  for (let i = 0; i < images.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    images[i] = s >>> 24;
  }
  return {
    name: `bench-${count}`,
    images,
    labels: new Int32Array(count).map((_, i) => i % classes),
    count,
    height: h,
    width: w,
    channels: c,
    classNames: Array.from({ length: classes }, (_, i) => `c${i}`),
    fingerprint: `bench:${count}x${h}x${w}x${c}`,
  };
}

/** A cheap teacher (one random projection) so that store I/O dominates. */
function projectionTeacher(
  name: string,
  inputs: number,
  classes: number,
): StoreTeacher {
  const w = tf.keep(tf.randomNormal([inputs, classes], 0, 1, "float32", 7));
  return {
    name,
    kind: "projection",
    fingerprint: `bench:${name}`,
    predict: (x) =>
      tf.matMul(x.reshape([x.shape[0], inputs]), w) as tf.Tensor2D,
  };
}

function norm(c: number) {
  return { mean: Array(c).fill(0.5), std: Array(c).fill(0.25) };
}

// 1. Bytes per image ------------------------------------------------------
console.log(
  "\n## bytes per image (2 teachers, 1 view; file size / images, 2,000 images)",
);
console.log("| C | encoding | record bytes | file bytes per image |");
console.log("|---|---|---|---|");
for (const classes of [10, 100, 1000]) {
  const k = classes === 10 ? 3 : classes === 100 ? 5 : 10;
  const encodings: StoreEncoding[] = [
    { kind: "dense", dtype: "float32" },
    { kind: "dense", dtype: "float16" },
    { kind: "topk", dtype: "float16", k },
  ];
  const ds = dataset(2000, 4, 4, 1, classes);
  const teachers = [
    projectionTeacher("a", 16, classes),
    projectionTeacher("b", 16, classes),
  ];
  for (const encoding of encodings) {
    const path = `${dir}/size-${classes}-${describeEncoding(encoding)}.vkl`;
    const r = await precompute({
      path,
      dataset: ds,
      teachers,
      views: 1,
      augmentation: null,
      baseSeed: 0,
      normalization: norm(1),
      encoding,
      chunkImages: 512,
    });
    using reader = await openStore(path);
    console.log(
      `| ${classes} | ${
        describeEncoding(encoding)
      } | ${reader.layout.recordBytes} | ${(r.bytes / ds.count).toFixed(1)} |`,
    );
    await Deno.remove(path);
  }
}

// 2. Read throughput --------------------------------------------------------
const readImages = Number(args["read-images"]);
const views = 4;
const classes = 100;
const readPath = `${dir}/read.vkl`;
{
  const ds = dataset(readImages, 8, 8, 1, classes);
  const t0 = performance.now();
  await precompute({
    path: readPath,
    dataset: ds,
    teachers: [
      projectionTeacher("a", 64, classes),
      projectionTeacher("b", 64, classes),
    ],
    views,
    augmentation: { padding: 1, flip: false },
    baseSeed: 3,
    normalization: norm(1),
    encoding: { kind: "dense", dtype: "float16" },
    batchSize: 256,
  });
  console.log(
    `\nwrote ${readImages} images x ${views} views, C=${classes}, 2 teachers, dense-float16 in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
}
const fileBytes = (await Deno.stat(readPath)).size;
function rawSequentialRead(): number {
  const file = Deno.openSync(readPath, { read: true });
  const buf = new Uint8Array(1 << 20);
  const t0 = performance.now();
  let total = 0;
  for (;;) {
    const n = file.readSync(buf);
    if (!n) break;
    total += n;
  }
  const s = (performance.now() - t0) / 1000;
  file.close();
  return total / s;
}
rawSequentialRead(); // warm the page cache, as training would
const rawRate = rawSequentialRead();
console.log(
  `\n## random batch reads (batch 64, file ${
    (fileBytes / 2 ** 20).toFixed(1)
  } MiB, page cache warm)`,
);
console.log(
  `raw sequential read of the file: ${(rawRate / 2 ** 20).toFixed(0)} MiB/s`,
);
console.log("| reader | us per batch of 64 | rows/s | logit MiB/s | vs raw |");
console.log("|---|---|---|---|---|");
const readerCases: [string, number | undefined, boolean][] = [
  ["chunk cache (file fits), new arrays", undefined, false],
  ["chunk cache (file fits), reused out", undefined, true],
  ["row reads by offset, no cache", 0, true],
];
for (const [label, cacheBytes, reuse] of readerCases) {
  using reader = await openStore(readPath, { cacheBytes });
  let s = 42;
  const rand = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const batches = 2000;
  const imgs = new Int32Array(64);
  const vs = new Int32Array(64);
  const out = reuse
    ? [new Float32Array(6400), new Float32Array(6400)]
    : undefined;
  const run = (count: number) => {
    for (let b = 0; b < count; b++) {
      for (let j = 0; j < 64; j++) {
        imgs[j] = rand(readImages);
        vs[j] = rand(views);
      }
      reader.readBatch(imgs, vs, out);
    }
  };
  run(500); // warm-up (and first chunk loads)
  const t0 = performance.now();
  run(batches);
  const sec = (performance.now() - t0) / 1000;
  const useful = batches * 64 * reader.layout.rowBytes;
  console.log(
    `| ${label} | ${(sec / batches * 1e6).toFixed(1)} | ${
      (batches * 64 / sec).toFixed(0)
    } | ${(useful / sec / 2 ** 20).toFixed(1)} | ${
      (useful / sec / rawRate * 100).toFixed(1)
    } % |`,
  );
}
await Deno.remove(readPath);

// 3. Precompute against the teachers' inference ------------------------------
const n = Number(args["precompute-images"]);
const cifarLike = dataset(n, 32, 32, 3, 10);
const models = [
  buildModel("resnet8", { seed: 1 }),
  buildModel("rednet8", { seed: 2 }),
];
const teachers: StoreTeacher[] = models.map((m, i) => ({
  name: i === 0 ? "resnet8" : "rednet8",
  kind: i === 0 ? "cnn" : "inn",
  fingerprint: `bench:${i}`,
  predict: (x) => m.predict(x) as tf.Tensor2D,
}));
const x = tf.randomNormal([64, 32, 32, 3]) as tf.Tensor4D;
for (const t of teachers) { // warm-up
  const logits = t.predict(x);
  await logits.data();
  logits.dispose();
}
const t0 = performance.now();
const reps = Math.max(1, Math.round(n / 64));
for (let r = 0; r < reps; r++) {
  for (const t of teachers) {
    const y = t.predict(x);
    await y.data();
    y.dispose();
  }
}
const ceiling = reps * 64 / ((performance.now() - t0) / 1000);
x.dispose();
const result = await precompute({
  path: `${dir}/pre.vkl`,
  dataset: cifarLike,
  teachers,
  views: 1,
  augmentation: { padding: 4, flip: true },
  baseSeed: 1,
  normalization: norm(3),
  encoding: { kind: "dense", dtype: "float16" },
  batchSize: 64,
});
const rate = n / result.seconds;
console.log(
  `\n## precompute, resnet8 + rednet8 teachers, 32x32x3, batch 64, ${n} images x 1 view`,
);
console.log(
  `teachers' inference alone (both teachers): ${ceiling.toFixed(1)} images/s`,
);
console.log(
  `precompute (augment + normalise + both teachers + encode + checksum + fsync): ${
    rate.toFixed(1)
  } images/s = ${(rate / ceiling * 100).toFixed(1)} % of the ceiling; ${
    (result.teacherSeconds / result.seconds * 100).toFixed(1)
  } % of its time inside teacher forward passes`,
);
await Deno.remove(`${dir}/pre.vkl`);
if (!args.dir) await Deno.remove(dir, { recursive: true });
