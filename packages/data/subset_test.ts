import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { DataError } from "./errors.ts";
import { holdOutPerClass, selectImages, subsetPerClass } from "./subset.ts";
import type { ImageDataset } from "./types.ts";

function toy(count: number, classes: number): ImageDataset {
  const images = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) images.set([i & 255, (i >> 8) & 255], i * 2);
  return {
    name: "toy",
    images,
    labels: new Int32Array(count).map((_, i) => i % classes),
    count,
    height: 1,
    width: 2,
    channels: 1,
    classNames: Array.from({ length: classes }, (_, k) => `c${k}`),
    fingerprint: "base",
  };
}

Deno.test("subsetPerClass: N per class, deterministic from the seed, pixels follow", () => {
  const ds = toy(300, 3);
  const a = subsetPerClass(ds, 10, 1);
  const b = subsetPerClass(ds, 10, 1);
  const c = subsetPerClass(ds, 10, 2);
  assertEquals(a.count, 30);
  assertEquals([...a.sourceIndices], [...b.sourceIndices]);
  assertNotEquals([...a.sourceIndices], [...c.sourceIndices]);
  const counts = [0, 0, 0];
  for (let i = 0; i < a.count; i++) {
    counts[a.labels[i]]++;
    const src = a.sourceIndices[i];
    assertEquals(a.labels[i], ds.labels[src]);
    assertEquals([...a.images.subarray(i * 2, i * 2 + 2)], [
      src & 255,
      src >> 8,
    ]);
    if (i > 0) {
      assert(a.sourceIndices[i] > a.sourceIndices[i - 1], "source order kept");
    }
  }
  assertEquals(counts, [10, 10, 10]);
  assertEquals(a.fingerprint, "base+per-class=10,seed=1");
  assertNotEquals(a.fingerprint, c.fingerprint);
});

Deno.test("subsetPerClass: a class with too few images is an error naming it", () => {
  const ds = toy(20, 3); // classes have 7, 7, 6 images
  assertEquals(subsetPerClass(ds, 6, 0).count, 18);
  assertThrows(
    () => subsetPerClass(ds, 7, 0),
    DataError,
    'class "c2" of toy has 6 images, fewer than the 7',
  );
  assertThrows(() => subsetPerClass(ds, 0, 0), DataError, "positive integer");
});

Deno.test("selectImages: copies rows in the given order and checks indices", () => {
  const ds = toy(10, 2);
  const s = selectImages(ds, [3, 1], "pick");
  assertEquals([...s.labels], [1, 1]);
  assertEquals([...s.images], [3, 0, 1, 0]);
  assertThrows(() => selectImages(ds, [10], "x"), DataError, "out of range");
});

Deno.test("holdOutPerClass: N per class among the images a subset left unused", () => {
  const ds = toy(300, 3);
  const train = subsetPerClass(ds, 60, 1);
  const val = holdOutPerClass(ds, 20, 1, train.sourceIndices);
  assertEquals(val.count, 60);
  const used = new Set(train.sourceIndices);
  const counts = [0, 0, 0];
  for (let i = 0; i < val.count; i++) {
    assert(!used.has(val.sourceIndices[i]), "overlaps the training subset");
    counts[val.labels[i]]++;
  }
  assertEquals(counts, [20, 20, 20]);
  assertEquals(
    [...holdOutPerClass(ds, 20, 1, train.sourceIndices).sourceIndices],
    [...val.sourceIndices],
  );
  assertThrows(
    () => holdOutPerClass(ds, 41, 1, train.sourceIndices),
    DataError,
    "fewer than the 41",
  );
});
