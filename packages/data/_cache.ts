import { DataError } from "./errors.ts";
import { bytesOf, fingerprintContent, hashBytes } from "./hash.ts";
import type { ImageDataset } from "./types.ts";

const MAGIC = "VKDDATA1";
const FORMAT_VERSION = 1;

/** What happened to a cache file during a load. */
export interface CacheEvent {
  /** The cache file. */
  path: string;
  /** `hit`: used; `miss`: absent; `stale`: other source; `corrupt`: failed its checksum; `written`: rebuilt. */
  status: "hit" | "miss" | "stale" | "corrupt" | "written";
  /** Why a file was not used. */
  detail?: string;
}

/** The cache file's JSON header: the data set without its pixels and labels. */
type CacheHeader = Omit<ImageDataset, "images" | "labels"> & {
  version: number;
  sourceKey: string;
};

/** The default cache folder: `.cache/data` under the current directory. */
export function defaultCacheDir(): string {
  return `${Deno.cwd()}/.cache/data`;
}

/**
 * The cache file for one split of one source: the file name carries a hash
 * of the source's location, so a changed source replaces its own file.
 */
export function cacheFilePath(
  cacheDir: string,
  label: string,
  location: string,
): string {
  const safe = label.replace(/[^A-Za-z0-9._-]+/g, "_");
  return `${cacheDir}/${safe}-${hashBytes(location).slice(0, 12)}.vkdata`;
}

/**
 * Reads a cached data set if the file exists, was made from the source with
 * `sourceKey`, and its content matches the stored checksum (the content
 * fingerprint). Returns `undefined` otherwise, telling `onEvent` why.
 * `pendingRead`, a `Deno.readFile(path)` started earlier, lets the caller
 * overlap reading the file with other work.
 */
export async function readCache(
  path: string,
  sourceKey: string,
  onEvent?: (event: CacheEvent) => void,
  pendingRead?: Promise<Uint8Array>,
): Promise<ImageDataset | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await (pendingRead ?? Deno.readFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      onEvent?.({ path, status: "miss" });
      return undefined;
    }
    throw new DataError(`cannot read cache file: ${error}`, path, {
      cause: error,
    });
  }
  const corrupt = (detail: string) => {
    onEvent?.({ path, status: "corrupt", detail });
    return undefined;
  };
  if (
    bytes.length < 12 ||
    new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC
  ) {
    return corrupt(`missing ${MAGIC} magic`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) return corrupt("truncated header");
  let header: CacheHeader;
  try {
    header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)),
    );
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return corrupt("unreadable header");
  }
  if (header.version !== FORMAT_VERSION || header.sourceKey !== sourceKey) {
    onEvent?.({
      path,
      status: "stale",
      detail: header.version !== FORMAT_VERSION
        ? `format version ${header.version}, expected ${FORMAT_VERSION}`
        : "made from a different source",
    });
    return undefined;
  }
  const labelsOffset = 12 + headerLength + ((4 - (headerLength % 4)) % 4);
  const imageBytes = header.count * header.height * header.width *
    header.channels;
  const expectedLength = labelsOffset + header.count * 4 + imageBytes;
  if (bytes.length !== expectedLength) {
    return corrupt(
      `file has ${bytes.length} bytes, header implies ${expectedLength}`,
    );
  }
  const labelStart = bytes.byteOffset + labelsOffset;
  const labels = labelStart % 4 === 0
    ? new Int32Array(bytes.buffer, labelStart, header.count)
    : new Int32Array(
      bytes.slice(labelsOffset, labelsOffset + header.count * 4).buffer,
    );
  const images = bytes.subarray(
    labelsOffset + header.count * 4,
    expectedLength,
  );
  const fingerprint = fingerprintContent(
    images,
    labels,
    header,
    header.classNames,
  );
  if (fingerprint !== header.fingerprint) {
    return corrupt("checksum mismatch");
  }
  onEvent?.({ path, status: "hit" });
  return {
    name: header.name,
    images,
    labels,
    count: header.count,
    height: header.height,
    width: header.width,
    channels: header.channels,
    classNames: header.classNames,
    fingerprint,
  };
}

/**
 * Writes `ds` to `path` atomically (a temporary file renamed into place), so
 * that an interrupted run never leaves a half-written cache behind.
 */
export async function writeCache(
  path: string,
  sourceKey: string,
  ds: ImageDataset,
  onEvent?: (event: CacheEvent) => void,
): Promise<void> {
  const header: CacheHeader = {
    version: FORMAT_VERSION,
    sourceKey,
    name: ds.name,
    count: ds.count,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    classNames: ds.classNames,
    fingerprint: ds.fingerprint,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const pad = (4 - (headerBytes.length % 4)) % 4;
  const prefix = new Uint8Array(12 + headerBytes.length + pad);
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(prefix.buffer).setUint32(8, headerBytes.length, true);
  prefix.set(headerBytes, 12);
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await Deno.open(tmp, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      for (const part of [prefix, bytesOf(ds.labels), ds.images]) {
        let written = 0;
        while (written < part.length) {
          written += await file.write(part.subarray(written));
        }
      }
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    // Best effort: the write's own error is the one to report.
    await Deno.remove(tmp).catch(() => {});
    throw new DataError(`cannot write cache file: ${error}`, path, {
      cause: error,
    });
  }
  onEvent?.({ path, status: "written" });
}
