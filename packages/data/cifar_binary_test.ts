import { assertEquals, assertRejects } from "@std/assert";
import { CIFAR10_CLASS_NAMES, loadCifarBinary } from "./cifar_binary.ts";
import { DataError } from "./errors.ts";

/** A record: label byte(s), then R, G, B planes filled with distinct values. */
function record(labels: number[], seed: number): Uint8Array {
  const out = new Uint8Array(labels.length + 3072);
  out.set(labels, 0);
  for (let p = 0; p < 1024; p++) {
    out[labels.length + p] = (seed + p) & 255;
    out[labels.length + 1024 + p] = (seed * 3 + p) & 255;
    out[labels.length + 2048 + p] = (seed * 7 + 1) & 255;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

Deno.test("loadCifarBinary: CIFAR-10 release folder, planar -> NHWC", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/cifar-10-batches-bin`;
    await Deno.mkdir(dir);
    for (let b = 1; b <= 5; b++) {
      await Deno.writeFile(
        `${dir}/data_batch_${b}.bin`,
        concat([record([b], b), record([9], 50 + b)]),
      );
    }
    await Deno.writeFile(`${dir}/test_batch.bin`, record([3], 99));
    const train = await loadCifarBinary(root, { variant: 10, split: "train" });
    assertEquals([train.count, train.height, train.width, train.channels], [
      10,
      32,
      32,
      3,
    ]);
    assertEquals([...train.labels], [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    assertEquals(train.classNames, [...CIFAR10_CLASS_NAMES]);
    // pixel (0, 5) of image 0 (seed 1): R = 1+5, G = 3+5, B = 8
    assertEquals([...train.images.subarray(15, 18)], [6, 8, 8]);
    const test = await loadCifarBinary(`${dir}/test_batch.bin`, {
      variant: 10,
    });
    assertEquals(test.count, 1);
    assertEquals(test.labels[0], 3);
    await assertRejects(
      () => loadCifarBinary(root, { variant: 10 }),
      DataError,
      "split",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadCifarBinary: CIFAR-100 fine and coarse labels with names from the meta file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/train.bin`,
      concat([record([4, 77], 1), record([19, 99], 2)]),
    );
    await Deno.writeFile(
      `${dir}/fine_label_names.txt`,
      new TextEncoder().encode(
        Array.from({ length: 100 }, (_, i) => `fine${i}`).join("\n") + "\n",
      ),
    );
    const fine = await loadCifarBinary(dir, { variant: 100, split: "train" });
    assertEquals([...fine.labels], [77, 99]);
    assertEquals(fine.classNames[77], "fine77");
    const coarse = await loadCifarBinary(`${dir}/train.bin`, {
      variant: 100,
      labelKind: "coarse",
    });
    assertEquals([...coarse.labels], [4, 19]);
    assertEquals(coarse.classNames.length, 20);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCifarBinary: truncated file, bad label, missing files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = concat([record([1], 1), record([2], 2)]);
    await Deno.writeFile(`${dir}/cut.bin`, bytes.subarray(0, 5000));
    await assertRejects(
      () => loadCifarBinary(`${dir}/cut.bin`, { variant: 10 }),
      DataError,
      "cut.bin: truncated or not CIFAR-10 binary: 5000 bytes is not a multiple of the 3073-byte record",
    );
    await Deno.writeFile(`${dir}/bad.bin`, record([12], 1));
    await assertRejects(
      () => loadCifarBinary(`${dir}/bad.bin`, { variant: 10 }),
      DataError,
      "label 12 out of range 0..9",
    );
    await assertRejects(
      () => loadCifarBinary(dir, { variant: 10, split: "test" }),
      DataError,
      "test_batch.bin",
    );
    await assertRejects(
      () => loadCifarBinary(`${dir}/none`, { variant: 10 }),
      DataError,
      "not found",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
