import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { LogitStoreError } from "./errors.ts";
import { precompute, storeTeacherFromModel } from "./precompute.ts";
import * as tf from "@tensorflow/tfjs";
import { openStore } from "./reader.ts";
import { verifyStore } from "./verify.ts";
import { mergeShards } from "./merge.ts";
import { tinyDataset, tinyOptions, tinyTeachers } from "./_test_utils.ts";

const dataset = tinyDataset(40);
const teachers = tinyTeachers();
const dir = await Deno.makeTempDir({ prefix: "vitkd_store_bad_" });
const good = `${dir}/good.vkl`;
await precompute(
  tinyOptions(good, dataset, teachers, {
    encoding: { kind: "dense", dtype: "float16" },
  }),
);
const goodBytes = await Deno.readFile(good);
const layout = await openStore(good).then((r) => {
  const l = r.layout;
  r.close();
  return l;
});

async function variant(name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}.vkl`;
  await Deno.writeFile(path, bytes);
  return path;
}

Deno.test("verify accepts an intact store", async () => {
  const report = await verifyStore(good);
  assert(report.ok, report.problem);
  assertEquals(report.chunksChecked, 5);
});

Deno.test("a flipped data byte is named by chunk in verify and read", async () => {
  const bytes = goodBytes.slice();
  const offset = layout.dataOffset + 3 * 8 * layout.imageBytes + 17; // chunk 3
  bytes[offset] ^= 0x04;
  const path = await variant("flipped", bytes);
  const report = await verifyStore(path);
  assertEquals(report.ok, false);
  assertEquals(report.badChunk, 3);
  assertEquals(report.chunksChecked, 3);
  assertStringIncludes(report.problem!, "chunk 3 (images 24..31");
  assertStringIncludes(report.problem!, "checksum mismatch");
  using reader = await openStore(path);
  assertEquals(reader.readBatch([0], [0])[0].length, 10); // other chunks fine
  let error: unknown;
  try {
    reader.readBatch([25], [1]);
  } catch (err) {
    error = err;
  }
  assert(error instanceof LogitStoreError);
  assertStringIncludes((error as Error).message, "chunk 3 checksum mismatch");
});

Deno.test("the uncached read path (a store larger than the cache) checks every chunk too", async () => {
  const bytes = goodBytes.slice();
  bytes[layout.dataOffset + 3 * 8 * layout.imageBytes + 17] ^= 0x04; // chunk 3
  const path = await variant("flipped-uncached", bytes);
  // cacheBytes 0: rows are read by offset, as for a store over 256 MiB
  await assertRejects(
    () => openStore(path, { cacheBytes: 0 }),
    LogitStoreError,
    "chunk 3 (images 24..31",
  );
  using reader = await openStore(good, { cacheBytes: 0 });
  using cached = await openStore(good);
  assertEquals(
    reader.readBatch([25, 3], [1, 0]),
    cached.readBatch([25, 3], [1, 0]),
  );
});

Deno.test("precompute does not count a damaged complete store as done", async () => {
  const path = `${dir}/rerun.vkl`;
  await precompute(
    tinyOptions(path, dataset, teachers, {
      encoding: { kind: "dense", dtype: "float16" },
    }),
  );
  const again = await precompute(
    tinyOptions(path, dataset, teachers, {
      encoding: { kind: "dense", dtype: "float16" },
    }),
  );
  assertEquals(again.alreadyComplete, true);
  const bytes = await Deno.readFile(path);
  bytes[layout.dataOffset + 8 * layout.imageBytes + 5] ^= 0x10; // chunk 1
  await Deno.writeFile(path, bytes);
  await assertRejects(
    () =>
      precompute(
        tinyOptions(path, dataset, teachers, {
          encoding: { kind: "dense", dtype: "float16" },
        }),
      ),
    LogitStoreError,
    "rerun.vkl is damaged",
  );
  // overwrite computes it again, byte-identical to the original
  await precompute(
    tinyOptions(path, dataset, teachers, {
      encoding: { kind: "dense", dtype: "float16" },
      overwrite: true,
    }),
  );
  assertEquals(await Deno.readFile(path), goodBytes);
});

Deno.test("a flipped header byte is refused", async () => {
  const bytes = goodBytes.slice();
  bytes[40] ^= 0x01;
  const path = await variant("header", bytes);
  await assertRejects(
    () => openStore(path),
    LogitStoreError,
    "header checksum mismatch",
  );
  assertStringIncludes((await verifyStore(path)).problem!, "header checksum");
});

Deno.test("a truncated store names where it was cut", async () => {
  const cut = layout.dataOffset + 2 * 8 * layout.imageBytes + 50;
  const path = await variant("short", goodBytes.subarray(0, cut));
  await assertRejects(
    () => openStore(path),
    LogitStoreError,
    `the header describes ${goodBytes.length} bytes but the file has ${cut} (cut inside chunk 2`,
  );
  const report = await verifyStore(path);
  assertEquals(report.ok, false);
  assertStringIncludes(report.problem!, "truncated");
  const tiny = await variant("tiny", goodBytes.subarray(0, 12));
  await assertRejects(() => openStore(tiny), LogitStoreError, "truncated");
  const tail = await variant("long", new Uint8Array([...goodBytes, 1, 2]));
  await assertRejects(
    () => openStore(tail),
    LogitStoreError,
    "2 unexpected bytes",
  );
});

Deno.test("an unknown format version and a foreign file are refused", async () => {
  const bytes = goodBytes.slice();
  new DataView(bytes.buffer).setUint32(8, 7, true);
  const path = await variant("v7", bytes);
  await assertRejects(
    () => openStore(path),
    LogitStoreError,
    "unsupported logit store format version 7 (this build reads version 1)",
  );
  const png = await variant(
    "png",
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 0]),
  );
  await assertRejects(
    () => openStore(png),
    LogitStoreError,
    "not a vitkd logit store",
  );
  await assertRejects(
    () => openStore(`${dir}/none.vkl`),
    LogitStoreError,
    "no such logit store",
  );
});

Deno.test("mismatched fingerprints are refused unless overridden", async () => {
  const err = await assertRejects(
    () =>
      openStore(good, {
        expect: {
          datasetFingerprint: "fnv1a64:1111",
          teachers: [
            { name: "cnn", fingerprint: "w:cnn-1" },
            { name: "mlp", fingerprint: "w:mlp-2" },
          ],
        },
      }),
    LogitStoreError,
  );
  assertStringIncludes(
    err.message,
    "data set fingerprint: the store was made from fnv1a64:00000000deadbeef",
  );
  assertStringIncludes(err.message, "the data in use is fnv1a64:1111");
  assertStringIncludes(err.message, `teacher "mlp" weights`);
  assertStringIncludes(err.message, "in use w:mlp-2");
  await assertRejects(
    () =>
      openStore(good, {
        expect: { teachers: [{ name: "cnn", fingerprint: "w:cnn-1" }] },
      }),
    LogitStoreError,
    "teachers: the store has 2 (cnn, mlp), in use 1 (cnn)",
  );
  using reader = await openStore(good, {
    expect: { datasetFingerprint: "other" },
    allowMismatch: true,
  });
  assertEquals(reader.teacherCount, 2);
  using fits = await openStore(good, {
    expect: {
      datasetFingerprint: dataset.fingerprint,
      teachers: teachers.map((t) => ({
        name: t.name,
        fingerprint: t.fingerprint,
      })),
      numClasses: 10,
    },
  });
  assertEquals(fits.numClasses, 10);
});

Deno.test("bad arguments get clear errors", async () => {
  using reader = await openStore(good);
  let msg = "";
  try {
    reader.readBatch([1, 2], [0]);
  } catch (err) {
    msg = (err as Error).message;
  }
  assertStringIncludes(msg, "2 image indices but 1 view indices");
  try {
    reader.readBatch([1], [3]);
  } catch (err) {
    msg = (err as Error).message;
  }
  assertStringIncludes(msg, "view index 3 is outside 0..2");
  await assertRejects(
    () =>
      precompute(
        tinyOptions(`${dir}/x.vkl`, dataset, teachers, { augmentation: null }),
      ),
    LogitStoreError,
    "views = 3 without augmentation",
  );
  await assertRejects(
    () =>
      precompute(
        tinyOptions(`${dir}/x.vkl`, dataset, teachers, { numClasses: 12 }),
      ),
    LogitStoreError,
    `teacher "cnn" returned logits of shape [7,10], expected [7, 12]`,
  );
  await assertRejects(
    () =>
      precompute(
        tinyOptions(`${dir}/x3.vkl`, dataset, [teachers[0], teachers[0]]),
      ),
    LogitStoreError,
    `precompute: teacher name "cnn" appears twice`,
  );
  await assertRejects(
    () =>
      precompute(tinyOptions(`${dir}/x3.vkl`, dataset, teachers, { views: 0 })),
    LogitStoreError,
    "views must be a positive integer",
  );
  await Deno.writeFile(`${dir}/junk.vkl`, new Uint8Array(100));
  await assertRejects(
    () => precompute(tinyOptions(`${dir}/junk.vkl`, dataset, teachers)),
    LogitStoreError,
    "exists but is not a valid store",
  );
  await assertRejects(
    () => mergeShards([good], `${dir}/m.vkl`),
    LogitStoreError,
    "is a complete store, not a shard",
  );
  await assertRejects(
    () =>
      precompute(
        tinyOptions(`${dir}/x2.vkl`, dataset, [{
          ...teachers[0],
          name: "nan",
          predict: (x) => teachers[0].predict(x).div(0).mul(0),
        }]),
      ),
    LogitStoreError,
    `teacher "nan" gave a non-finite logit (NaN) for image 0, view 0, class 0`,
  );
  await assertRejects(
    () =>
      precompute(
        tinyOptions(`${dir}/x4.vkl`, dataset, [{
          ...teachers[0],
          name: "huge",
          predict: (x) => teachers[0].predict(x).mul(0).add(1e5),
        }], { encoding: { kind: "dense", dtype: "float16" } }),
      ),
    LogitStoreError,
    `teacher "huge" gave a logit of 100000 for image 0, view 0, class 0: beyond float16's range`,
  );
});

Deno.test("a model with several outputs is refused as a teacher", () => {
  const input = tf.input({ shape: [8, 8, 3] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const a = tf.layers.dense({ units: 10 }).apply(flat) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 10 }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [a, b] });
  const teacher = storeTeacherFromModel(model, {
    name: "two",
    kind: "vit",
    fingerprint: "w:2",
  });
  const before = tf.memory().numTensors;
  const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
  assertThrows(
    () => teacher.predict(x),
    LogitStoreError,
    `teacher "two" has 2 outputs`,
  );
  x.dispose();
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
