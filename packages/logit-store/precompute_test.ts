import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { augmentImage, normalizeImages, viewSeed } from "@vitkd/data";
import { FLOAT16_TABLE, float32ToFloat16Bits } from "./_float16.ts";
import { LogitStoreError } from "./errors.ts";
import { precompute } from "./precompute.ts";
import { openStore } from "./reader.ts";
import { verifyStore } from "./verify.ts";
import { mergeShards } from "./merge.ts";
import { formatInspect, inspectStore } from "./inspect.ts";
import { tinyDataset, tinyOptions, tinyTeachers } from "./_test_utils.ts";

const dataset = tinyDataset(40);
const teachers = tinyTeachers();

/** The live teachers' logits on view `v` of image `i`, as the store made it. */
function liveLogits(
  images: number[],
  views: number[],
  baseSeed = 1234,
): Float32Array[] {
  const px = 8 * 8 * 3;
  const u8 = new Uint8Array(images.length * px);
  images.forEach((i, j) => {
    const src = dataset.images.subarray(i * px, (i + 1) * px);
    u8.set(
      augmentImage(
        src,
        { height: 8, width: 8, channels: 3 },
        { padding: 2, flip: true },
        viewSeed(baseSeed, i, views[j]),
      ),
      j * px,
    );
  });
  return tf.tidy(() => {
    const x = normalizeImages(u8, images.length, 8, 8, 3, {
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    return teachers.map((t) => t.predict(x).dataSync() as Float32Array);
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vitkd_store_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("stored float32 logits equal a live teacher's logits on the same view", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/s.vkl`;
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const result = await precompute(
      tinyOptions(path, dataset, teachers, {
        onProgress: (p) => {
          progress.push(p.done);
          assertEquals(p.total, 120);
        },
      }),
    );
    assertEquals(tf.memory().numTensors, before, "precompute leaks tensors");
    assertEquals(result.chunksWritten, 5);
    assertEquals(progress.at(-1), 120);
    assertEquals((await Deno.stat(path)).size, result.bytes);
    assertEquals(await Deno.stat(`${path}.partial`).catch(() => null), null);
    assertEquals(await Deno.stat(`${path}.journal`).catch(() => null), null);

    const images = [0, 39, 17, 8, 17];
    const views = [0, 2, 1, 0, 2];
    const live = liveLogits(images, views);
    for (const cacheBytes of [undefined, 0]) {
      using reader = await openStore(path, { cacheBytes });
      const stored = reader.readBatch(images, views);
      assertEquals(stored.length, 2);
      for (let t = 0; t < 2; t++) {
        assertEquals(stored[t].length, images.length * 10);
        for (let k = 0; k < stored[t].length; k++) {
          assertAlmostEquals(stored[t][k], live[t][k], 1e-5);
        }
      }
      const tensors = reader.readBatchTensors(images, views);
      assertEquals(tensors[0].shape, [5, 10]);
      tf.dispose(tensors);
    }
    assertEquals(tf.memory().numTensors, before, "reader leaks tensors");
    // different views of one image really differ
    const [a] = liveLogits([3, 3], [0, 1]);
    assert(a.slice(0, 10).some((v, k) => v !== a[10 + k]));
  });
});

Deno.test("float16 and top-k stores hold the encoded live logits", async () => {
  await withTempDir(async (dir) => {
    const images = [5, 6, 31];
    const views = [1, 0, 2];
    const live = liveLogits(images, views);
    await precompute(
      tinyOptions(`${dir}/h.vkl`, dataset, teachers, {
        encoding: { kind: "dense", dtype: "float16" },
      }),
    );
    using half = await openStore(`${dir}/h.vkl`);
    const storedHalf = half.readBatch(images, views);
    for (let t = 0; t < 2; t++) {
      storedHalf[t].forEach((v, k) =>
        assertEquals(v, FLOAT16_TABLE[float32ToFloat16Bits(live[t][k])])
      );
    }
    await precompute(
      tinyOptions(`${dir}/k.vkl`, dataset, teachers, {
        encoding: { kind: "topk", dtype: "float32", k: 3 },
      }),
    );
    using topk = await openStore(`${dir}/k.vkl`);
    assertEquals(topk.layout.recordBytes, 4 * 4 + 3 * 2);
    const storedTop = topk.readBatch(images, views);
    for (let t = 0; t < 2; t++) {
      for (let b = 0; b < images.length; b++) {
        const row = Array.from(live[t].subarray(b * 10, b * 10 + 10));
        const got = Array.from(storedTop[t].subarray(b * 10, b * 10 + 10));
        const order = [...row.keys()].sort((x, y) => row[y] - row[x]);
        for (const k of order.slice(0, 3)) {
          assertAlmostEquals(got[k], row[k], 1e-5);
        }
        const fill = got[order[3]];
        for (const k of order.slice(3)) assertEquals(got[k], fill);
        const m = row[order[0]];
        const rest = order.slice(3).reduce(
          (s, k) => s + Math.exp(row[k] - m),
          0,
        );
        assertAlmostEquals(fill, m + Math.log(rest / 7), 1e-4);
      }
    }
  });
});

async function runUntilThrow(
  path: string,
  chunks: number,
  over = {},
): Promise<void> {
  await assertRejects(
    () =>
      precompute(
        tinyOptions(path, dataset, teachers, {
          ...over,
          onProgress: (p) => {
            if (p.chunksDone >= chunks) throw new Error("killed");
          },
        }),
      ),
    Error,
    "killed",
  );
}

Deno.test("a run killed part-way resumes to the same bytes", async () => {
  await withTempDir(async (dir) => {
    await precompute(tinyOptions(`${dir}/ref.vkl`, dataset, teachers));
    const reference = await Deno.readFile(`${dir}/ref.vkl`);

    const path = `${dir}/s.vkl`;
    await runUntilThrow(path, 2);
    assert((await Deno.stat(`${path}.partial`)).isFile);
    await assertRejects(() => openStore(path), LogitStoreError, "resume");
    const resumed = await precompute(tinyOptions(path, dataset, teachers));
    assertEquals(resumed.chunksResumed, 2);
    assertEquals(resumed.chunksWritten, 3);
    assertEquals(await Deno.readFile(path), reference);

    // an abort signal stops between batches; the rerun resumes
    const path2 = `${dir}/a.vkl`;
    const controller = new AbortController();
    await assertRejects(() =>
      precompute(
        tinyOptions(path2, dataset, teachers, {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.chunksDone === 3) controller.abort(new Error("stop"));
          },
        }),
      )
    );
    const again = await precompute(tinyOptions(path2, dataset, teachers));
    assertEquals(again.chunksResumed, 3);
    assertEquals(await Deno.readFile(path2), reference);

    // a complete store with the same settings is kept; other settings refused
    const kept = await precompute(tinyOptions(path, dataset, teachers));
    assert(kept.alreadyComplete);
    await assertRejects(
      () => precompute(tinyOptions(path, dataset, teachers, { baseSeed: 5 })),
      LogitStoreError,
      "baseSeed: 1234 vs 5",
    );
  });
});

Deno.test("a half-written chunk and a torn journal entry are redone on resume", async () => {
  await withTempDir(async (dir) => {
    await precompute(tinyOptions(`${dir}/ref.vkl`, dataset, teachers));
    const reference = await Deno.readFile(`${dir}/ref.vkl`);
    const path = `${dir}/s.vkl`;
    await runUntilThrow(path, 3);
    // damage the second journaled chunk's bytes (a write cut short)...
    using ref = await openStore(`${dir}/ref.vkl`);
    const partial = await Deno.open(`${path}.partial`, {
      write: true,
      read: true,
    });
    const chunkBytes = 8 * ref.layout.imageBytes;
    await partial.seek(
      ref.layout.dataOffset + chunkBytes + 100,
      Deno.SeekMode.Start,
    );
    await partial.write(new Uint8Array(chunkBytes - 100));
    partial.close();
    // ...and tear the last journal entry in half
    const journal = await Deno.readFile(`${path}.journal`);
    await Deno.writeFile(
      `${path}.journal`,
      journal.subarray(0, journal.length - 6),
    );

    const resumed = await precompute(tinyOptions(path, dataset, teachers));
    assertEquals(resumed.chunksRepaired, 1);
    assertEquals(resumed.chunksResumed, 1);
    assertEquals(resumed.chunksWritten, 4);
    assertEquals(await Deno.readFile(path), reference);
    assert((await verifyStore(path)).ok);

    // a partial from other settings is not mixed in
    await runUntilThrow(`${dir}/m.vkl`, 1);
    await assertRejects(
      () =>
        precompute(
          tinyOptions(`${dir}/m.vkl`, dataset, teachers, { views: 2 }),
        ),
      LogitStoreError,
      "views: 3 vs 2",
    );
    const restarted = await precompute(
      tinyOptions(`${dir}/m.vkl`, dataset, teachers, {
        views: 2,
        restart: true,
      }),
    );
    assertEquals(restarted.chunksResumed, 0);
  });
});

Deno.test("shards merged equal the single run, byte for byte", async () => {
  await withTempDir(async (dir) => {
    await precompute(
      tinyOptions(`${dir}/ref.vkl`, dataset, teachers, {
        encoding: { kind: "topk", dtype: "float16", k: 4 },
      }),
    );
    const reference = await Deno.readFile(`${dir}/ref.vkl`);
    const shardPaths: string[] = [];
    for (let index = 0; index < 3; index++) {
      const p = `${dir}/shard-${index}.vkl`;
      shardPaths.push(p);
      await precompute(
        tinyOptions(p, dataset, teachers, {
          encoding: { kind: "topk", dtype: "float16", k: 4 },
          shard: { index, count: 3 },
          batchSize: 5,
        }),
      );
    }
    // a shard is itself a verifiable, readable store of its images
    assert((await verifyStore(shardPaths[1])).ok);
    using shard1 = await openStore(shardPaths[1]);
    using full = await openStore(`${dir}/ref.vkl`);
    const img = shard1.layout.firstImage;
    assertEquals(shard1.readBatch([img], [2]), full.readBatch([img], [2]));
    assertThrows(
      () => shard1.readBatch([0], [0]),
      LogitStoreError,
      "outside this store's images",
    );

    await assertRejects(
      () => mergeShards([shardPaths[0], shardPaths[2]], `${dir}/x.vkl`),
      LogitStoreError,
      "shard 1 of 3 missing",
    );
    const merged = await mergeShards(
      [shardPaths[2], shardPaths[0], shardPaths[1]],
      `${dir}/merged.vkl`,
    );
    assertEquals(merged.chunks, 5);
    assertEquals(await Deno.readFile(`${dir}/merged.vkl`), reference);
  });
});

Deno.test("inspect computes accuracies and agreement from stored logits", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/s.vkl`;
    await precompute(tinyOptions(path, dataset, teachers));
    const report = await inspectStore(path, dataset.labels);
    using reader = await openStore(path);
    const images: number[] = [];
    const views: number[] = [];
    for (let i = 0; i < 40; i++) {
      for (let v = 0; v < 3; v++) {
        images.push(i);
        views.push(v);
      }
    }
    const all = reader.readBatch(images, views);
    const argmax = (a: Float32Array, b: number) => {
      let best = 0;
      for (let c = 1; c < 10; c++) {
        if (a[b * 10 + c] > a[b * 10 + best]) best = c;
      }
      return best;
    };
    for (let t = 0; t < 2; t++) {
      let correct = 0;
      for (let b = 0; b < 120; b++) {
        if (argmax(all[t], b) === dataset.labels[images[b]]) correct++;
      }
      assertAlmostEquals(report.teachers[t].accuracy!, correct / 120, 1e-12);
    }
    let same = 0;
    for (let b = 0; b < 120; b++) {
      if (argmax(all[0], b) === argmax(all[1], b)) same++;
    }
    assertAlmostEquals(report.agreement[0][1], same / 120, 1e-12);
    assertEquals(report.agreement[0][0], 1);
    assert(report.ensembleAccuracy !== null);
    assertEquals(report.views, 120);
    const text = formatInspect(report);
    assertStringIncludes(text, "cnn");
    assertStringIncludes(text, "ensemble");
    await assertRejects(
      () => inspectStore(path, new Int32Array(3)),
      LogitStoreError,
      "3 labels",
    );
  });
});

Deno.test("cached, uncached and buffer-reusing reads agree for every encoding", async () => {
  await withTempDir(async (dir) => {
    const images = [0, 1, 8, 39, 20, 20];
    const views = [0, 1, 2, 2, 0, 1];
    for (
      const encoding of [
        { kind: "dense", dtype: "float16" },
        { kind: "dense", dtype: "float32" },
        { kind: "topk", dtype: "float16", k: 2 },
      ] as const
    ) {
      const path = `${dir}/${encoding.kind}-${encoding.dtype}.vkl`;
      await precompute(
        tinyOptions(path, dataset, teachers, { encoding, views: 3 }),
      );
      using cached = await openStore(path);
      using direct = await openStore(path, { cacheBytes: 0 });
      const a = cached.readBatch(images, views);
      const b = direct.readBatch(images, views);
      assertEquals(a, b);
      const out = [new Float32Array(60), new Float32Array(70)];
      const c = direct.readBatch(images, views, out);
      assert(c === out);
      assertEquals(out[0], a[0]);
      assertEquals(out[1].subarray(0, 60), a[1]);
      // rows are really distinct: image 20's two views differ
      assert(a[0].subarray(40, 50).some((v, k) => v !== a[0][50 + k]));
    }
    const path = `${dir}/dense-float16.vkl`;
    const reader = await openStore(path);
    reader.close();
    reader.close(); // closing twice is harmless
    let message = "";
    try {
      reader.readBatch([0], [0]);
    } catch (err) {
      message = (err as Error).message;
    }
    assertStringIncludes(message, "readBatch after close");
  });
});
