import { contentDataset } from "./_dataset.ts";
import {
  type CacheEvent,
  cacheFilePath,
  defaultCacheDir,
  readCache,
  writeCache,
} from "./_cache.ts";
import { DataError } from "./errors.ts";
import { absolutePath, joinPath, pathKind, readFileOrThrow } from "./_files.ts";
import { hashBytes } from "./hash.ts";
import { convertChannels, decodeImage, resizeImage } from "./image.ts";
import type { DecodedImage, ImageDataset, ProgressCallback } from "./types.ts";

const IMAGE_EXTENSION = /\.(jpe?g|png)$/i;

/** Options of `loadImageFolder`. */
export interface ImageFolderOptions {
  /** Decoded-data cache folder; default `.cache/data` under the cwd. */
  cacheDir?: string;
  /** Skip the cache entirely (neither read nor write). */
  noCache?: boolean;
  /** Reports decoding progress (not called on a cache hit). */
  onProgress?: ProgressCallback;
  /** Reports what happened to the cache file. */
  onCache?: (event: CacheEvent) => void;
  /** Channels to store; default: those of the first image. Others are converted. */
  channels?: 1 | 3;
  /** Resize every image to this size; without it, a differing size is an error. */
  size?: { height: number; width: number };
  /** Data set name; default `<folder name>-<split>`. */
  name?: string;
}

// sync listing and stat: on the dev machine's file system they took half
// the time of the async calls, which matters for 60,000 files
function listDir(path: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(path)];
  } catch (error) {
    throw new DataError(`cannot list folder: ${error}`, path, { cause: error });
  }
}

const READ_CHUNK = 256;

function readChunk(paths: string[]): Promise<Uint8Array[]> {
  const reads = Promise.all(paths.map((path) => readFileOrThrow(path)));
  reads.catch(() => {}); // surfaces when awaited
  return reads;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Class names of an image folder: `root/classes.txt` (one per line) when
 * present, else the sorted sub-folder names of `root/<split>`.
 */
export async function imageFolderClasses(
  root: string,
  split: string,
): Promise<string[]> {
  const splitDir = joinPath(root, split);
  const listed = joinPath(root, "classes.txt");
  const folders = (listDir(splitDir))
    .filter((e) => e.isDirectory)
    .map((e) => e.name)
    .sort(byCodeUnit);
  if (await pathKind(listed) !== "file") {
    if (folders.length === 0) {
      throw new DataError("no class folders", splitDir);
    }
    return folders;
  }
  const names = new TextDecoder().decode(await readFileOrThrow(listed))
    .split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new DataError("no class names", listed);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new DataError(`class "${name}" listed twice`, listed);
    }
    seen.add(name);
    if (!folders.includes(name)) {
      throw new DataError(
        `class "${name}" from ${listed} has no folder`,
        joinPath(splitDir, name),
      );
    }
  }
  const extra = folders.filter((f) => !seen.has(f));
  if (extra.length > 0) {
    throw new DataError(
      `folders not listed in ${listed}: ${extra.join(", ")}`,
      splitDir,
    );
  }
  return names;
}

interface FolderSource {
  classNames: string[];
  files: { path: string; label: number }[];
  /** Hash of the sorted file list with sizes and mtimes, and the options. */
  sourceKey: string;
}

async function listSource(
  absRoot: string,
  split: string,
  opts: ImageFolderOptions,
): Promise<FolderSource> {
  const splitDir = joinPath(absRoot, split);
  const classNames = await imageFolderClasses(absRoot, split);
  const files: { path: string; label: number }[] = [];
  const keyLines: string[] = [
    JSON.stringify({ channels: opts.channels, size: opts.size, classNames }),
  ];
  for (let label = 0; label < classNames.length; label++) {
    const classDir = joinPath(splitDir, classNames[label]);
    const names = (listDir(classDir))
      .filter((e) => e.isFile && IMAGE_EXTENSION.test(e.name))
      .map((e) => e.name)
      .sort(byCodeUnit);
    if (names.length === 0) {
      throw new DataError(
        "empty class folder: no .jpg, .jpeg or .png images",
        classDir,
      );
    }
    for (const name of names) {
      const path = joinPath(classDir, name);
      const info = Deno.statSync(path);
      files.push({ path, label });
      keyLines.push(`${label}/${name}\t${info.size}\t${info.mtime?.getTime()}`);
    }
  }
  const sourceKey = hashBytes(keyLines.join("\n"));
  return { classNames, files, sourceKey };
}

/**
 * Loads `root/<split>/<class>/*.{jpg,jpeg,png}` as uint8 NHWC. Decoded data
 * is cached (one file per split) under a key made from the sorted file list
 * with sizes and modification times, so later loads skip decoding.
 */
export async function loadImageFolder(
  root: string,
  split: string,
  opts: ImageFolderOptions = {},
): Promise<ImageDataset> {
  const absRoot = absolutePath(root);
  if (await pathKind(absRoot) !== "dir") {
    throw new DataError("image folder not found", absRoot);
  }
  const splitDir = joinPath(absRoot, split);
  if (await pathKind(splitDir) !== "dir") {
    throw new DataError(`split folder "${split}" not found`, splitDir);
  }
  const name = opts.name ??
    `${absRoot.slice(absRoot.lastIndexOf("/") + 1)}-${split}`;
  const cachePath = cacheFilePath(
    opts.cacheDir ?? defaultCacheDir(),
    name,
    `${splitDir}\n${
      JSON.stringify({ channels: opts.channels, size: opts.size })
    }`,
  );
  // the runtime reads the cache file while the source is listed below
  const pendingRead = opts.noCache ? undefined : Deno.readFile(cachePath);
  pendingRead?.catch(() => {}); // reported by readCache
  let source: FolderSource;
  try {
    source = await listSource(absRoot, split, opts);
  } catch (error) {
    await pendingRead?.catch(() => {}); // settle it: no read left in flight
    throw error;
  }
  const { classNames, files, sourceKey } = source;
  if (pendingRead) {
    const cached = await readCache(
      cachePath,
      sourceKey,
      opts.onCache,
      pendingRead,
    );
    if (cached) return { ...cached, name };
  }

  const count = files.length;
  let images: Uint8Array | undefined;
  let height = 0, width = 0, channels = 0;
  const labels = new Int32Array(count);
  // the next chunk's files are read by the runtime while this one decodes
  const chunkPaths = (start: number) =>
    files.slice(start, start + READ_CHUNK).map((f) => f.path);
  let nextChunk = readChunk(chunkPaths(0));
  let chunk: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (i % READ_CHUNK === 0) {
      chunk = await nextChunk;
      nextChunk = readChunk(chunkPaths(i + READ_CHUNK));
    }
    const { path, label } = files[i];
    let image: DecodedImage = decodeImage(chunk[i % READ_CHUNK], path);
    if (opts.size) {
      image = resizeImage(image, opts.size.width, opts.size.height);
    }
    if (!images) {
      channels = opts.channels ?? (image.channels === 1 ? 1 : 3);
      height = image.height;
      width = image.width;
      images = new Uint8Array(count * height * width * channels);
    }
    if (image.height !== height || image.width !== width) {
      throw new DataError(
        `image is ${image.width}x${image.height}, expected ${width}x${height} like ${
          files[0].path
        } (pass size to resize)`,
        path,
      );
    }
    image = convertChannels(image, channels as 1 | 3);
    images.set(image.data, i * height * width * channels);
    labels[i] = label;
    if (opts.onProgress && ((i + 1) % 1000 === 0 || i + 1 === count)) {
      opts.onProgress({ done: i + 1, total: count });
    }
  }
  const ds = contentDataset(
    name,
    images!,
    labels,
    { height, width, channels },
    classNames,
  );
  if (pendingRead) await writeCache(cachePath, sourceKey, ds, opts.onCache);
  return ds;
}
