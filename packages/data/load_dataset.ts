import type { CacheEvent } from "./_cache.ts";
import { loadCifarBinary } from "./cifar_binary.ts";
import { DataError } from "./errors.ts";
import { findIdxFiles, loadFashionMnist, loadIdx, loadMnist } from "./idx.ts";
import { loadImageFolder } from "./image_folder.ts";
import {
  CIFAR100_NORMALIZATION,
  CIFAR10_NORMALIZATION,
  FASHION_MNIST_NORMALIZATION,
  MNIST_NORMALIZATION,
} from "./normalize.ts";
import type {
  ImageDataset,
  Normalization,
  ProgressCallback,
  Split,
} from "./types.ts";

/** The data sources `loadDataset` knows. */
export type DatasetKind =
  | "mnist"
  | "fashion-mnist"
  | "cifar10-folder"
  | "image-folder"
  | "cifar-binary"
  | "idx";

/** Every `DatasetKind`, for CLI validation and help texts. */
export const DATASET_KINDS: readonly DatasetKind[] = Object.freeze([
  "mnist",
  "fashion-mnist",
  "cifar10-folder",
  "image-folder",
  "cifar-binary",
  "idx",
]);

/** The development copy of CIFAR-10 as an image folder (JPEG re-encoded). */
export const CIFAR10_FOLDER_DEFAULT = "../shared/datasets/cifar10";

/** What `loadDataset` loads. */
export interface DatasetSpec {
  /** The source format. */
  kind: DatasetKind;
  /**
   * Where: a folder (IDX files, image folder root, CIFAR release folder) or
   * a CIFAR `.bin` file. Optional for mnist, fashion-mnist, cifar10-folder.
   */
  path?: string;
  /** CIFAR binary only: 10 (default) or 100. */
  variant?: 10 | 100;
  /** Decoded-data cache folder for image folders; default `.cache/data`. */
  cacheDir?: string;
  /** Decoding progress of image folders. */
  onProgress?: ProgressCallback;
  /** Cache events of image folders. */
  onCache?: (event: CacheEvent) => void;
}

function requirePath(spec: DatasetSpec): string {
  if (!spec.path) {
    throw new DataError(`data set kind "${spec.kind}" needs a path`);
  }
  return spec.path;
}

/** Loads one split of the data set described by `spec` (what the CLI calls). */
export async function loadDataset(
  spec: DatasetSpec,
  split: Split,
): Promise<ImageDataset> {
  switch (spec.kind) {
    case "mnist":
      return await loadMnist({ split, dir: spec.path });
    case "fashion-mnist":
      return await loadFashionMnist({ split, dir: spec.path });
    case "idx": {
      const path = requirePath(spec);
      const files = await findIdxFiles(path, split);
      return await loadIdx(files.images, files.labels, {
        name: `${path.replace(/\/+$/, "").split("/").pop()}-${split}`,
      });
    }
    case "cifar10-folder":
      return await loadImageFolder(spec.path ?? CIFAR10_FOLDER_DEFAULT, split, {
        cacheDir: spec.cacheDir,
        onProgress: spec.onProgress,
        onCache: spec.onCache,
        name: `cifar10-${split}`,
      });
    case "image-folder":
      return await loadImageFolder(requirePath(spec), split, {
        cacheDir: spec.cacheDir,
        onProgress: spec.onProgress,
        onCache: spec.onCache,
      });
    case "cifar-binary":
      return await loadCifarBinary(requirePath(spec), {
        variant: spec.variant ?? 10,
        split,
      });
    default:
      throw new DataError(
        `unknown data set kind "${
          (spec as { kind: string }).kind
        }"; expected one of ${DATASET_KINDS.join(", ")}`,
      );
  }
}

/**
 * The published normalisation of a well-known data set, or `undefined` when
 * it must be computed (`computeNormalization`).
 */
export function knownNormalization(
  kind: DatasetKind,
  variant: 10 | 100 = 10,
): Normalization | undefined {
  switch (kind) {
    case "mnist":
      return MNIST_NORMALIZATION;
    case "fashion-mnist":
      return FASHION_MNIST_NORMALIZATION;
    case "cifar10-folder":
      return CIFAR10_NORMALIZATION;
    case "cifar-binary":
      return variant === 100 ? CIFAR100_NORMALIZATION : CIFAR10_NORMALIZATION;
    default:
      return undefined;
  }
}
