import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertNotEquals,
} from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { augmentImage } from "./augment.ts";
import {
  type Batch,
  countBatches,
  epochOrder,
  iterateBatches,
} from "./batches.ts";
import { viewSeed } from "./rng.ts";
import type { ImageDataset } from "./types.ts";

await tf.setBackend("cpu");

function toy(count: number): ImageDataset {
  const images = new Uint8Array(count * 4 * 4 * 3);
  for (let i = 0; i < images.length; i++) images[i] = (i * 13 + (i >> 6)) & 255;
  return {
    name: "toy",
    images,
    labels: new Int32Array(count).map((_, i) => i % 4),
    count,
    height: 4,
    width: 4,
    channels: 3,
    classNames: ["a", "b", "c", "d"],
    fingerprint: "toy",
  };
}
const norm = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };

async function collect(
  ds: ImageDataset,
  opts: Parameters<typeof iterateBatches>[1],
) {
  const out: {
    indices: number[];
    seeds: number[];
    x: Float32Array;
    y: Int32Array;
    shape: number[];
  }[] = [];
  for await (const batch of iterateBatches(ds, opts)) {
    out.push({
      indices: [...batch.indices],
      seeds: [...batch.viewSeeds],
      x: (await batch.x.data()) as Float32Array,
      y: (await batch.y.data()) as Int32Array,
      shape: batch.x.shape,
    });
    assertEquals(batch.y.dtype, "int32");
    assertEquals(batch.x.dtype, "float32");
    batch.dispose();
  }
  return out;
}

Deno.test("iterateBatches: each epoch covers every index once, seeded per (seed, epoch)", async () => {
  const ds = toy(23);
  const a = await collect(ds, {
    batchSize: 5,
    seed: 3,
    epoch: 0,
    normalization: norm,
  });
  assertEquals(a.map((b) => b.indices.length), [5, 5, 5, 5, 3]);
  assertEquals(
    a.flatMap((b) => b.indices).sort((x, y) => x - y),
    Array.from({ length: 23 }, (_, i) => i),
  );
  const again = await collect(ds, {
    batchSize: 5,
    seed: 3,
    epoch: 0,
    normalization: norm,
  });
  assertEquals(again.map((b) => b.indices), a.map((b) => b.indices));
  const epoch1 = await collect(ds, {
    batchSize: 5,
    seed: 3,
    epoch: 1,
    normalization: norm,
  });
  assertNotEquals(epoch1.map((b) => b.indices), a.map((b) => b.indices));
  const dropped = await collect(ds, {
    batchSize: 5,
    seed: 3,
    dropLast: true,
    normalization: norm,
  });
  assertEquals(dropped.length, 4);
  assertEquals(countBatches(23, 5, true), 4);
  assertEquals(countBatches(23, 5), 5);
  const ordered = await collect(ds, {
    batchSize: 10,
    shuffle: false,
    normalization: norm,
  });
  assertEquals(ordered[0].indices, Array.from({ length: 10 }, (_, i) => i));
  assertEquals([...epochOrder(5, 1, 0, false)], [0, 1, 2, 3, 4]);
});

Deno.test("iterateBatches: rows are the normalised (augmented) views of the reported seeds", async () => {
  const ds = toy(9);
  const spec = { padding: 1, flip: true };
  const batches = await collect(ds, {
    batchSize: 4,
    seed: 11,
    epoch: 2,
    augment: spec,
    normalization: norm,
  });
  const size = 4 * 4 * 3;
  for (const b of batches) {
    assertEquals(b.shape, [b.indices.length, 4, 4, 3]);
    b.indices.forEach((index, r) => {
      assertEquals(b.seeds[r], viewSeed(11, index, 2));
      assertEquals(b.y[r], ds.labels[index]);
      const view = augmentImage(
        ds.images.subarray(index * size, (index + 1) * size),
        [4, 4, 3],
        spec,
        b.seeds[r],
      );
      for (const k of [0, 7, 20, 47]) {
        const expected = (view[k] / 255 - norm.mean[k % 3]) / norm.std[k % 3];
        assertAlmostEquals(b.x[r * size + k], expected, 1e-5);
      }
    });
  }
  // viewSeedFor picks the view: e.g. a stored view number per image
  const custom = await collect(ds, {
    batchSize: 9,
    augment: spec,
    normalization: norm,
    viewSeedFor: (i) => viewSeed(5, i, i % 2),
  });
  custom[0].indices.forEach((index, r) =>
    assertEquals(custom[0].seeds[r], viewSeed(5, index, index % 2))
  );
});

Deno.test("iterateBatches: no tensor leak over epochs or an early break; default normalisation", async () => {
  const ds = toy(40);
  const before = tf.memory().numTensors;
  for (let epoch = 0; epoch < 3; epoch++) {
    for await (
      const batch of iterateBatches(ds, {
        batchSize: 8,
        epoch,
        augment: { padding: 1, flip: true },
      })
    ) {
      tf.tidy(() => batch.x.mean()).dispose();
      batch.dispose();
    }
    assertEquals(tf.memory().numTensors, before);
  }
  for await (const batch of iterateBatches(ds, { batchSize: 8 })) {
    batch.dispose();
    break;
  }
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("iterateBatches: batch k+1 is prepared while the caller awaits on batch k", async () => {
  const ds = toy(12);
  const seen: number[] = [];
  const iterator = iterateBatches(ds, {
    batchSize: 4,
    shuffle: false,
    normalization: norm,
    viewSeedFor: (i) => {
      seen.push(i);
      return i;
    },
  });
  const first = await iterator.next();
  assertEquals(seen.length, 4);
  // a training step that awaits (as GPU work does) lets the prefetch run;
  // wait for it by turns of the event loop, not for a fixed time
  for (let turn = 0; turn < 10_000 && seen.length < 8; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assertEquals(seen.length, 8, "batch 1 prepared before it was asked for");
  (first.value as Batch).dispose();
  const second = await iterator.next();
  assertEquals([...(second.value as Batch).indices], [4, 5, 6, 7]);
  (second.value as Batch).dispose();
  await iterator.return();
  assert(seen.length <= 12);
});
