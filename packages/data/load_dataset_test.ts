import { assertEquals, assertRejects } from "@std/assert";
import { DataError } from "./errors.ts";
import { knownNormalization, loadDataset } from "./load_dataset.ts";
import { MNIST_NORMALIZATION } from "./normalize.ts";
import { encodePng, gzip, idxBytes, pattern } from "./_testing.ts";

Deno.test("loadDataset: dispatches on kind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const test = await loadDataset({ kind: "mnist" }, "test");
    assertEquals([test.count, test.name], [10000, "mnist-test"]);

    await Deno.mkdir(`${dir}/idx`);
    await Deno.writeFile(
      `${dir}/idx/t10k-images-idx3-ubyte.gz`,
      gzip(idxBytes([2, 3, 3], pattern(18))),
    );
    await Deno.writeFile(
      `${dir}/idx/t10k-labels-idx1-ubyte.gz`,
      gzip(idxBytes([2], new Uint8Array([1, 0]))),
    );
    const idx = await loadDataset({ kind: "idx", path: `${dir}/idx` }, "test");
    assertEquals([idx.count, idx.height, idx.name], [2, 3, "idx-test"]);
    const fashion = await loadDataset({
      kind: "fashion-mnist",
      path: `${dir}/idx`,
    }, "test");
    assertEquals(fashion.classNames[9], "Ankle boot");

    await Deno.mkdir(`${dir}/imgs/train/k`, { recursive: true });
    await Deno.writeFile(
      `${dir}/imgs/train/k/a.png`,
      encodePng(2, 2, 3, pattern(12)),
    );
    const folder = await loadDataset({
      kind: "image-folder",
      path: `${dir}/imgs`,
      cacheDir: `${dir}/c`,
    }, "train");
    assertEquals([folder.count, folder.classNames], [1, ["k"]]);

    await Deno.writeFile(`${dir}/one.bin`, new Uint8Array(3073));
    const cifar = await loadDataset({
      kind: "cifar-binary",
      path: `${dir}/one.bin`,
    }, "train");
    assertEquals(cifar.count, 1);

    await assertRejects(
      () => loadDataset({ kind: "image-folder" }, "train"),
      DataError,
      "needs a path",
    );
    await assertRejects(
      () => loadDataset({ kind: "idx", path: `${dir}/imgs` }, "train"),
      DataError,
      "no train images",
    );
    await assertRejects(
      // deno-lint-ignore no-explicit-any
      () => loadDataset({ kind: "bogus" as any }, "train"),
      DataError,
      'unknown data set kind "bogus"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("knownNormalization: published constants or undefined", () => {
  assertEquals(knownNormalization("mnist"), MNIST_NORMALIZATION);
  assertEquals(knownNormalization("cifar10-folder")?.mean.length, 3);
  assertEquals(knownNormalization("image-folder"), undefined);
});
