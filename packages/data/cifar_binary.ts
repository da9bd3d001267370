import { DataError } from "./errors.ts";
import {
  joinPath,
  pathKind,
  readFileOrThrow,
  readMaybeGzip,
} from "./_files.ts";
import { contentDataset } from "./_dataset.ts";
import type { ImageDataset, Split } from "./types.ts";

/** CIFAR-10 class names in the official label order. */
export const CIFAR10_CLASS_NAMES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

const PIXELS = 32 * 32;

/** Options of `loadCifarBinary`. */
export interface CifarBinaryOptions {
  /** CIFAR-10 (1 label byte per record) or CIFAR-100 (coarse + fine label bytes). */
  variant: 10 | 100;
  /** Which split, when the source is the release folder. */
  split?: Split;
  /** CIFAR-100 only: which label to use; default `"fine"`. */
  labelKind?: "fine" | "coarse";
  /** Class names; by default read from the release's meta file when present. */
  classNames?: readonly string[];
  /** Data set name. */
  name?: string;
}

async function releaseFiles(
  dir: string,
  variant: 10 | 100,
  split: Split,
): Promise<{ dir: string; files: string[] }> {
  const nested = joinPath(
    dir,
    variant === 10 ? "cifar-10-batches-bin" : "cifar-100-binary",
  );
  if (await pathKind(nested) === "dir") dir = nested;
  const names = variant === 10
    ? split === "train"
      ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`)
      : ["test_batch.bin"]
    : [split === "train" ? "train.bin" : "test.bin"];
  const files = names.map((name) => joinPath(dir, name));
  for (const file of files) {
    if (await pathKind(file) !== "file") {
      throw new DataError(
        `CIFAR-${variant} ${split} file missing; expected ${
          names.join(", ")
        } in ${dir}`,
        file,
      );
    }
  }
  return { dir, files };
}

async function readNames(path: string): Promise<string[] | undefined> {
  if (await pathKind(path) !== "file") return undefined;
  const text = new TextDecoder().decode(await readFileOrThrow(path));
  return text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Loads the official CIFAR-10/100 binary format: records of label byte(s)
 * then 3072 bytes of planar R, G, B 32x32 pixels; returned as NHWC RGB.
 * `source` is the release folder (with `split`) or a list of `.bin` files.
 */
export async function loadCifarBinary(
  source: string | readonly string[],
  opts: CifarBinaryOptions,
): Promise<ImageDataset> {
  const { variant } = opts;
  if (variant !== 10 && variant !== 100) {
    throw new DataError(`CIFAR variant must be 10 or 100, got ${variant}`);
  }
  let files: string[];
  let metaDir: string | undefined;
  if (typeof source === "string") {
    const kind = await pathKind(source);
    if (kind === undefined) {
      throw new DataError("CIFAR source not found", source);
    }
    if (kind === "dir") {
      if (!opts.split) {
        throw new DataError(
          'a CIFAR release folder needs split: "train" or "test"',
          source,
        );
      }
      const release = await releaseFiles(source, variant, opts.split);
      files = release.files;
      metaDir = release.dir;
    } else files = [source];
  } else files = [...source];
  if (files.length === 0) throw new DataError("no CIFAR binary files given");

  const labelBytes = variant === 10 ? 1 : 2;
  const recordLength = labelBytes + 3 * PIXELS;
  const useCoarse = variant === 100 && opts.labelKind === "coarse";
  const classCount = variant === 10 ? 10 : useCoarse ? 20 : 100;

  const contents = await Promise.all(files.map((f) => readMaybeGzip(f)));
  let count = 0;
  contents.forEach((bytes, i) => {
    if (bytes.length === 0 || bytes.length % recordLength !== 0) {
      throw new DataError(
        `truncated or not CIFAR-${variant} binary: ${bytes.length} bytes is not a multiple of the ${recordLength}-byte record`,
        files[i],
      );
    }
    count += bytes.length / recordLength;
  });

  const images = new Uint8Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  let n = 0;
  contents.forEach((bytes, fileIndex) => {
    for (let r = 0; r < bytes.length; r += recordLength, n++) {
      const label = bytes[r + (variant === 100 && !useCoarse ? 1 : 0)];
      if (label >= classCount) {
        throw new DataError(
          `record ${r / recordLength}: label ${label} out of range 0..${
            classCount - 1
          }`,
          files[fileIndex],
        );
      }
      labels[n] = label;
      const planes = r + labelBytes;
      const out = n * 3 * PIXELS;
      for (let p = 0; p < PIXELS; p++) {
        images[out + p * 3] = bytes[planes + p];
        images[out + p * 3 + 1] = bytes[planes + PIXELS + p];
        images[out + p * 3 + 2] = bytes[planes + 2 * PIXELS + p];
      }
    }
  });

  let classNames = opts.classNames ? [...opts.classNames] : undefined;
  if (!classNames && metaDir) {
    const metaName = variant === 10
      ? "batches.meta.txt"
      : useCoarse
      ? "coarse_label_names.txt"
      : "fine_label_names.txt";
    classNames = await readNames(joinPath(metaDir, metaName));
  }
  classNames ??= variant === 10
    ? [...CIFAR10_CLASS_NAMES]
    : Array.from({ length: classCount }, (_, i) => `class-${i}`);
  if (classNames.length !== classCount) {
    throw new DataError(
      `CIFAR-${variant} needs ${classCount} class names, got ${classNames.length}`,
      metaDir,
    );
  }
  return contentDataset(
    opts.name ?? `cifar${variant}${opts.split ? `-${opts.split}` : ""}`,
    images,
    labels,
    { height: 32, width: 32, channels: 3 },
    classNames,
  );
}
