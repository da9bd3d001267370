import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import type { CacheEvent } from "./_cache.ts";
import { DataError } from "./errors.ts";
import { loadImageFolder } from "./image_folder.ts";
import { encodeJpeg, encodePng, pattern } from "./_testing.ts";

/** root/train/{cat,ant,bee}/*.png of 6x4 RGB; classes.txt optional. */
async function makeFolder(
  root: string,
  opts: { classesTxt?: boolean } = {},
): Promise<void> {
  const classes = ["cat", "ant", "bee"];
  for (const [label, name] of classes.entries()) {
    await Deno.mkdir(`${root}/train/${name}`, { recursive: true });
    for (let i = 0; i < 2 + label; i++) {
      await Deno.writeFile(
        `${root}/train/${name}/${String(i).padStart(3, "0")}.png`,
        encodePng(6, 4, 3, pattern(6 * 4 * 3, label * 10 + i)),
      );
    }
  }
  if (opts.classesTxt) {
    await Deno.writeTextFile(`${root}/classes.txt`, classes.join("\n") + "\n");
  }
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadImageFolder: classes from classes.txt or sorted folders; pixels exact", () =>
  withTemp(async (dir) => {
    await makeFolder(`${dir}/a`, { classesTxt: true });
    const listed = await loadImageFolder(`${dir}/a`, "train", {
      cacheDir: `${dir}/cache`,
    });
    assertEquals(listed.classNames, ["cat", "ant", "bee"]);
    assertEquals([...listed.labels], [0, 0, 1, 1, 1, 2, 2, 2, 2]);
    assertEquals([listed.count, listed.height, listed.width, listed.channels], [
      9,
      4,
      6,
      3,
    ]);
    assertEquals(listed.images.subarray(72, 144), pattern(72, 1));
    assertEquals(listed.name, "a-train");

    await makeFolder(`${dir}/b`);
    const sorted = await loadImageFolder(`${dir}/b`, "train", {
      noCache: true,
    });
    assertEquals(sorted.classNames, ["ant", "bee", "cat"]);
    assertEquals([...sorted.labels], [0, 0, 0, 1, 1, 1, 1, 2, 2]);
    // same pixels under another labelling: a different fingerprint
    assertNotEquals(sorted.fingerprint, listed.fingerprint);
  }));

Deno.test("loadImageFolder: second load hits the cache; a changed file or corrupt cache rebuilds", () =>
  withTemp(async (dir) => {
    await makeFolder(`${dir}/d`);
    const events: CacheEvent[] = [];
    const opts = {
      cacheDir: `${dir}/cache`,
      onCache: (e: CacheEvent) => events.push(e),
    };
    const progress: number[] = [];
    const first = await loadImageFolder(`${dir}/d`, "train", {
      ...opts,
      onProgress: ({ done, total }) => progress.push(done / total),
    });
    assertEquals(events.map((e) => e.status), ["miss", "written"]);
    assertEquals(progress.at(-1), 1);
    const cacheFiles = [...Deno.readDirSync(`${dir}/cache`)].map((e) => e.name);
    assertEquals(cacheFiles.length, 1, "one file per split, no temporary left");
    assert(cacheFiles[0].endsWith(".vkdata"));

    events.length = 0;
    const second = await loadImageFolder(`${dir}/d`, "train", opts);
    assertEquals(events.map((e) => e.status), ["hit"]);
    assertEquals(second.images, first.images);
    assertEquals([...second.labels], [...first.labels]);
    assertEquals(second.fingerprint, first.fingerprint);

    // flip bytes in the cached pixels: the checksum catches it
    const cachePath = events[0].path;
    const bytes = await Deno.readFile(cachePath);
    bytes[bytes.length - 5] ^= 0xff;
    await Deno.writeFile(cachePath, bytes);
    events.length = 0;
    const third = await loadImageFolder(`${dir}/d`, "train", opts);
    assertEquals(events.map((e) => [e.status, e.detail]), [
      ["corrupt", "checksum mismatch"],
      ["written", undefined],
    ]);
    assertEquals(third.images, first.images);

    // a truncated cache file is caught too
    await Deno.writeFile(
      cachePath,
      (await Deno.readFile(cachePath)).subarray(0, 100),
    );
    events.length = 0;
    await loadImageFolder(`${dir}/d`, "train", opts);
    assertEquals(events[0].status, "corrupt");

    // a replaced source image changes the key: stale, rebuilt with new pixels
    await Deno.writeFile(
      `${dir}/d/train/ant/000.png`,
      encodePng(6, 4, 3, new Uint8Array(72).fill(9)),
    );
    events.length = 0;
    const fourth = await loadImageFolder(`${dir}/d`, "train", opts);
    assertEquals(events.map((e) => e.status), ["stale", "written"]);
    assert(fourth.images.subarray(0, 72).every((v) => v === 9));
    assertNotEquals(fourth.fingerprint, first.fingerprint);
  }));

Deno.test("loadImageFolder: JPEG and grey images, channel conversion", () =>
  withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/j/test/x`, { recursive: true });
    await Deno.writeFile(
      `${dir}/j/test/x/1.jpg`,
      encodeJpeg(8, 8, new Uint8Array(192).fill(120)),
    );
    await Deno.writeFile(
      `${dir}/j/test/x/2.png`,
      encodePng(8, 8, 1, new Uint8Array(64).fill(30)),
    );
    const ds = await loadImageFolder(`${dir}/j`, "test", { noCache: true });
    assertEquals([ds.count, ds.channels], [2, 3]);
    assert(Math.abs(ds.images[0] - 120) <= 2);
    assertEquals(ds.images[192], 30);
    const grey = await loadImageFolder(`${dir}/j`, "test", {
      noCache: true,
      channels: 1,
    });
    assertEquals(grey.channels, 1);
    assertEquals(grey.images.length, 128);
  }));

Deno.test("loadImageFolder: errors name the folder or file and the problem", () =>
  withTemp(async (dir) => {
    await assertRejects(
      () => loadImageFolder(`${dir}/none`, "train"),
      DataError,
      "image folder not found",
    );
    await makeFolder(`${dir}/e`);
    await assertRejects(
      () => loadImageFolder(`${dir}/e`, "test"),
      DataError,
      'split folder "test" not found',
    );

    await Deno.mkdir(`${dir}/e/train/dog`);
    const empty = await assertRejects(
      () => loadImageFolder(`${dir}/e`, "train", { cacheDir: `${dir}/cache` }),
      DataError,
    );
    assertMatch(empty.message, /e\/train\/dog: empty class folder/);
    await Deno.remove(`${dir}/e/train/dog`);

    await Deno.writeFile(
      `${dir}/e/train/bee/big.png`,
      encodePng(8, 4, 3, pattern(96)),
    );
    const size = await assertRejects(
      () => loadImageFolder(`${dir}/e`, "train", { noCache: true }),
      DataError,
    );
    assertMatch(size.message, /bee\/big\.png: image is 8x4, expected 6x4/);
    const resized = await loadImageFolder(`${dir}/e`, "train", {
      noCache: true,
      size: { height: 4, width: 6 },
    });
    assertEquals(resized.count, 10);
    await Deno.remove(`${dir}/e/train/bee/big.png`);

    const jpg = encodeJpeg(6, 4, pattern(72));
    await Deno.writeFile(
      `${dir}/e/train/cat/bad.jpg`,
      jpg.subarray(0, jpg.length - 40),
    );
    await assertRejects(
      () => loadImageFolder(`${dir}/e`, "train", { noCache: true }),
      DataError,
      "cat/bad.jpg: corrupt or truncated JPEG",
    );
    await Deno.remove(`${dir}/e/train/cat/bad.jpg`);

    await Deno.writeTextFile(`${dir}/e/classes.txt`, "cat\nant\nbee\nowl\n");
    await assertRejects(
      () => loadImageFolder(`${dir}/e`, "train", { noCache: true }),
      DataError,
      'class "owl"',
    );
    await Deno.writeTextFile(`${dir}/e/classes.txt`, "cat\nant\n");
    await assertRejects(
      () => loadImageFolder(`${dir}/e`, "train", { noCache: true }),
      DataError,
      "folders not listed",
    );
  }));

const CIFAR = "../shared/datasets/cifar10";
const cifarPresent = (() => {
  try {
    return Deno.statSync(`${CIFAR}/test`).isDirectory;
  } catch {
    return false;
  }
})();
if (!cifarPresent) {
  console.warn(
    `skipping the shared CIFAR-10 test-split check: ${CIFAR}/test not found`,
  );
}

Deno.test({
  name:
    "loadImageFolder: the shared CIFAR-10 test split (10,000 images, 1,000 per class)",
  ignore: !cifarPresent,
  fn: () =>
    withTemp(async (dir) => {
      const ds = await loadImageFolder(CIFAR, "test", { cacheDir: dir });
      assertEquals([ds.count, ds.height, ds.width, ds.channels], [
        10000,
        32,
        32,
        3,
      ]);
      assertEquals(ds.classNames[0], "airplane");
      assertEquals(ds.classNames[9], "truck");
      const counts = new Array(10).fill(0);
      for (const label of ds.labels) counts[label]++;
      assertEquals(counts, new Array(10).fill(1000));
    }),
});
