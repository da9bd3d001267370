/**
 * The on-disk layout of a logit store, the low-level part of
 * `@vitkd/logit-store`: magic numbers, the header, chunk and byte ranges,
 * the trailer and structure checks. `docs/logit-store-format.md` of the
 * vitkd repository describes the format in prose.
 *
 * ```ts
 * import { FORMAT_VERSION, STORE_MAGIC } from "@vitkd/logit-store/format";
 *
 * console.log(STORE_MAGIC, FORMAT_VERSION); // "VKDLOGIT" 1
 * ```
 *
 * @module
 */
import { crc32 } from "./_crc32.ts";
import {
  recordBytes,
  type StoreEncoding,
  validateEncoding,
} from "./encoding.ts";
import { LogitStoreError } from "./errors.ts";
import { hex, readExactly, readFully } from "./_io.ts";

/** The format version this build writes and the only one it reads. */
export const FORMAT_VERSION = 1;
/** First 8 bytes of every store file. */
export const STORE_MAGIC = "VKDLOGIT";
/** Last 8 bytes of every complete store file. */
export const STORE_END_MAGIC = "VKDLEND\n";
/** Bytes before the header JSON: magic, version, header length. */
export const PREAMBLE_BYTES = 16;
/** Bytes of the footer: chunk count, table checksum, end magic. */
export const FOOTER_BYTES = 16;
/** The data section starts at a multiple of this many bytes. */
export const DATA_ALIGNMENT = 64;
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** A teacher as recorded in a store header. */
export interface StoreTeacherInfo {
  /** Name, unique within the store (e.g. `"resnet"`). */
  name: string;
  /** Architecture family (e.g. `"cnn"`, `"inn"`). */
  kind: string;
  /** Fingerprint of the teacher's weights. */
  fingerprint: string;
}

/** Which part of the chunks a shard file holds. */
export interface ShardSpec {
  /** Shard number, 0-based. */
  index: number;
  /** Number of shards the run is split into. */
  count: number;
}

/** Everything a store records about how its logits were made. */
export interface StoreHeader {
  /** {@linkcode FORMAT_VERSION} at write time. */
  formatVersion: number;
  /** The data set the logits belong to. */
  dataset: {
    name: string;
    fingerprint: string;
    count: number;
    height: number;
    width: number;
    channels: number;
  };
  /** Number of classes `C`. */
  numClasses: number;
  /** Augmented views per image `V`. */
  views: number;
  /** Teachers, in the order their logits are stored (`T` of them). */
  teachers: StoreTeacherInfo[];
  /** How values are stored. */
  encoding: StoreEncoding;
  /** The augmentation spec that made the views (`null`: the plain image). */
  augmentation: Record<string, unknown> | null;
  /** View `v` of image `i` uses the seed `viewSeed(baseSeed, i, v)`. */
  baseSeed: number;
  /** Per-channel normalisation applied before the teachers ran. */
  normalization: { mean: number[]; std: number[] };
  /** Images per checksummed chunk (the last chunk may hold fewer). */
  chunkImages: number;
  /** Set in shard files only; `null` in a complete store. */
  shard: ShardSpec | null;
}

/** Byte offsets and sizes derived from a header. */
export interface StoreLayout {
  /** Bytes of one teacher's record for one view. */
  recordBytes: number;
  /** Bytes of one (image, view) row: all teachers' records. */
  rowBytes: number;
  /** Bytes per image: `V` rows. */
  imageBytes: number;
  /** Chunks of the whole (unsharded) store. */
  totalChunks: number;
  /** First chunk held by this file. */
  firstChunk: number;
  /** Chunks held by this file. */
  chunkCount: number;
  /** First image held by this file. */
  firstImage: number;
  /** Images held by this file. */
  imageCount: number;
  /** File offset of the data section. */
  dataOffset: number;
  /** Bytes of the data section. */
  dataBytes: number;
  /** File offset of the chunk checksum table. */
  tableOffset: number;
  /** Size of the complete file. */
  fileBytes: number;
}

/** The chunks `[first, first + count)` that shard `index` of `count` holds. */
export function shardChunkRange(
  totalChunks: number,
  shard: ShardSpec,
): { first: number; count: number } {
  const first = Math.floor((shard.index * totalChunks) / shard.count);
  const end = Math.floor(((shard.index + 1) * totalChunks) / shard.count);
  return { first, count: end - first };
}

function requirePositiveInteger(value: unknown, field: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new LogitStoreError(
      `header field ${field} must be a positive integer, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

/** Checks a header's fields; throws naming the first bad field. */
export function validateHeader(header: StoreHeader): void {
  if (typeof header !== "object" || header === null) {
    throw new LogitStoreError("header is not a JSON object");
  }
  if (typeof header.dataset !== "object" || header.dataset === null) {
    throw new LogitStoreError("header field dataset is missing");
  }
  if (typeof header.dataset.fingerprint !== "string") {
    throw new LogitStoreError("header field dataset.fingerprint is missing");
  }
  requirePositiveInteger(header.dataset.count, "dataset.count");
  requirePositiveInteger(header.dataset.height, "dataset.height");
  requirePositiveInteger(header.dataset.width, "dataset.width");
  requirePositiveInteger(header.dataset.channels, "dataset.channels");
  if (typeof header.baseSeed !== "number") {
    throw new LogitStoreError("header field baseSeed must be a number");
  }
  const norm = header.normalization;
  if (
    !norm || !Array.isArray(norm.mean) || !Array.isArray(norm.std) ||
    norm.mean.length !== header.dataset.channels ||
    norm.std.length !== header.dataset.channels
  ) {
    throw new LogitStoreError(
      `header field normalization must hold mean and std of ${header.dataset.channels} channel(s)`,
    );
  }
  if (
    header.augmentation !== null &&
    (typeof header.augmentation !== "object" ||
      Array.isArray(header.augmentation))
  ) {
    throw new LogitStoreError(
      "header field augmentation must be an object or null",
    );
  }
  requirePositiveInteger(header.numClasses, "numClasses");
  requirePositiveInteger(header.views, "views");
  requirePositiveInteger(header.chunkImages, "chunkImages");
  if (!Array.isArray(header.teachers) || header.teachers.length === 0) {
    throw new LogitStoreError("header field teachers must list >= 1 teacher");
  }
  const names = new Set<string>();
  for (const [i, t] of header.teachers.entries()) {
    for (const key of ["name", "kind", "fingerprint"] as const) {
      if (typeof t?.[key] !== "string" || t[key] === "") {
        throw new LogitStoreError(
          `header field teachers[${i}].${key} must be a non-empty string`,
        );
      }
    }
    if (names.has(t.name)) {
      throw new LogitStoreError(`teacher name "${t.name}" appears twice`);
    }
    names.add(t.name);
  }
  if (typeof header.encoding !== "object" || header.encoding === null) {
    throw new LogitStoreError("header field encoding is missing");
  }
  validateEncoding(header.encoding, header.numClasses);
  if (header.shard !== null && header.shard !== undefined) {
    const s = header.shard;
    requirePositiveInteger(s?.count, "shard.count");
    if (!Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) {
      throw new LogitStoreError(
        `header field shard.index must be in 0..${s.count - 1}, got ${s.index}`,
      );
    }
  }
}

/** Computes where everything lies in a file with this header. */
export function computeLayout(header: StoreHeader): StoreLayout {
  const record = recordBytes(header.encoding, header.numClasses);
  const rowBytes = record * header.teachers.length;
  const imageBytes = rowBytes * header.views;
  const n = header.dataset.count;
  const totalChunks = Math.ceil(n / header.chunkImages);
  const range = header.shard
    ? shardChunkRange(totalChunks, header.shard)
    : { first: 0, count: totalChunks };
  const firstImage = Math.min(n, range.first * header.chunkImages);
  const endImage = Math.min(
    n,
    (range.first + range.count) * header.chunkImages,
  );
  const headerJsonBytes = new TextEncoder().encode(
    JSON.stringify(canonicalHeader(header)),
  ).length;
  const dataOffset = alignUp(PREAMBLE_BYTES + headerJsonBytes + 4);
  const dataBytes = (endImage - firstImage) * imageBytes;
  const tableOffset = dataOffset + dataBytes;
  return {
    recordBytes: record,
    rowBytes,
    imageBytes,
    totalChunks,
    firstChunk: range.first,
    chunkCount: range.count,
    firstImage,
    imageCount: endImage - firstImage,
    dataOffset,
    dataBytes,
    tableOffset,
    fileBytes: tableOffset + 4 * range.count + FOOTER_BYTES,
  };
}

function alignUp(n: number): number {
  return Math.ceil(n / DATA_ALIGNMENT) * DATA_ALIGNMENT;
}

/** Images `[start, end)` of chunk `chunk` (a global chunk number). */
export function chunkImageRange(
  header: StoreHeader,
  chunk: number,
): { start: number; end: number } {
  const start = chunk * header.chunkImages;
  return {
    start,
    end: Math.min(header.dataset.count, start + header.chunkImages),
  };
}

/** File offset and size of global chunk `chunk` in a file with `layout`. */
export function chunkByteRange(
  header: StoreHeader,
  layout: StoreLayout,
  chunk: number,
): { offset: number; bytes: number } {
  const { start, end } = chunkImageRange(header, chunk);
  return {
    offset: layout.dataOffset + (start - layout.firstImage) * layout.imageBytes,
    bytes: (end - start) * layout.imageBytes,
  };
}

/**
 * Serialises a header with its preamble, checksum and zero padding up to the
 * data section. Key order is fixed so the same header gives the same bytes.
 */
export function encodeHeaderBlock(header: StoreHeader): Uint8Array {
  const json = new TextEncoder().encode(
    JSON.stringify(canonicalHeader(header)),
  );
  const block = new Uint8Array(alignUp(PREAMBLE_BYTES + json.length + 4));
  block.set(new TextEncoder().encode(STORE_MAGIC), 0);
  const view = new DataView(block.buffer);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  block.set(json, PREAMBLE_BYTES);
  const end = PREAMBLE_BYTES + json.length;
  view.setUint32(end, crc32(block.subarray(0, end)), true);
  return block;
}

/** A copy of the header with its keys in the documented order. */
export function canonicalHeader(header: StoreHeader): StoreHeader {
  return {
    formatVersion: header.formatVersion,
    dataset: {
      name: header.dataset.name,
      fingerprint: header.dataset.fingerprint,
      count: header.dataset.count,
      height: header.dataset.height,
      width: header.dataset.width,
      channels: header.dataset.channels,
    },
    numClasses: header.numClasses,
    views: header.views,
    teachers: header.teachers.map((t) => ({
      name: t.name,
      kind: t.kind,
      fingerprint: t.fingerprint,
    })),
    encoding: header.encoding.kind === "dense"
      ? { kind: "dense", dtype: header.encoding.dtype }
      : {
        kind: "topk",
        dtype: header.encoding.dtype,
        k: header.encoding.k,
      },
    augmentation: header.augmentation === null
      ? null
      : sortKeys(header.augmentation) as Record<string, unknown>,
    baseSeed: header.baseSeed,
    normalization: {
      mean: [...header.normalization.mean],
      std: [...header.normalization.std],
    },
    chunkImages: header.chunkImages,
    shard: header.shard
      ? { index: header.shard.index, count: header.shard.count }
      : null,
  };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Serialises the chunk checksum table and the footer. */
export function encodeTrailer(chunkCrcs: Uint32Array): Uint8Array {
  const out = new Uint8Array(4 * chunkCrcs.length + FOOTER_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < chunkCrcs.length; i++) {
    view.setUint32(4 * i, chunkCrcs[i], true);
  }
  const footer = 4 * chunkCrcs.length;
  view.setUint32(footer, chunkCrcs.length, true);
  view.setUint32(footer + 4, crc32(out.subarray(0, footer)), true);
  out.set(new TextEncoder().encode(STORE_END_MAGIC), footer + 8);
  return out;
}

/**
 * The first place where two headers differ, as `"path: a vs b"`, or `null`
 * when they are equal.
 */
export function describeHeaderDifference(
  a: unknown,
  b: unknown,
  path = "",
): string | null {
  if (Object.is(a, b)) return null;
  if (
    a && b && typeof a === "object" && typeof b === "object" &&
    Array.isArray(a) === Array.isArray(b)
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const sub = Array.isArray(a)
        ? `${path}[${key}]`
        : path
        ? `${path}.${key}`
        : key;
      const diff = describeHeaderDifference(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        sub,
      );
      if (diff) return diff;
    }
    return null;
  }
  return `${path || "(root)"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/** A store file's parsed structure: header, layout and chunk checksums. */
export interface StoreStructure {
  /** The header. */
  header: StoreHeader;
  /** Offsets derived from it. */
  layout: StoreLayout;
  /** CRC-32 of each chunk this file holds, in order. */
  chunkCrcs: Uint32Array;
  /** Size of the file on disk. */
  fileBytes: number;
}

/** Reads and checks the header block of an open file (no size checks). */
export function readHeaderBlock(
  file: Deno.FsFile,
  path: string,
): { header: StoreHeader; block: Uint8Array } {
  const pre = new Uint8Array(PREAMBLE_BYTES);
  const got = readFully(file, 0, pre);
  const magic = new TextDecoder().decode(pre.subarray(0, 8));
  if (got < 8 || magic !== STORE_MAGIC) {
    throw new LogitStoreError(
      `${path}: not a vitkd logit store (expected magic "${STORE_MAGIC}" at offset 0)`,
    );
  }
  if (got < PREAMBLE_BYTES) {
    throw new LogitStoreError(`${path}: truncated inside the preamble`);
  }
  const view = new DataView(pre.buffer);
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) {
    throw new LogitStoreError(
      `${path}: unsupported logit store format version ${version} (this build reads version ${FORMAT_VERSION})`,
    );
  }
  const jsonBytes = view.getUint32(12, true);
  if (jsonBytes > MAX_HEADER_BYTES) {
    throw new LogitStoreError(
      `${path}: header length ${jsonBytes} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt preamble)`,
    );
  }
  const block = new Uint8Array(alignUp(PREAMBLE_BYTES + jsonBytes + 4));
  block.set(pre);
  readExactly(
    file,
    path,
    PREAMBLE_BYTES,
    block.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + jsonBytes + 4),
    "the header",
  );
  const end = PREAMBLE_BYTES + jsonBytes;
  const stored = new DataView(block.buffer).getUint32(end, true);
  const actual = crc32(block.subarray(0, end));
  if (stored !== actual) {
    throw new LogitStoreError(
      `${path}: header checksum mismatch (stored 0x${hex(stored)}, computed 0x${
        hex(actual)
      }): the header is corrupt`,
    );
  }
  let header: StoreHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(block.subarray(16, end)));
  } catch (err) {
    throw new LogitStoreError(`${path}: header is not valid JSON`, {
      cause: err,
    });
  }
  try {
    validateHeader(header);
  } catch (err) {
    throw new LogitStoreError(`${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { header, block };
}

/**
 * Reads a complete store's header, checks the file size and footer and reads
 * the chunk checksum table. Throws a {@linkcode LogitStoreError} naming the
 * problem (bad magic, unknown version, truncation, corrupt table).
 */
export function readStructure(file: Deno.FsFile, path: string): StoreStructure {
  const { header } = readHeaderBlock(file, path);
  const layout = computeLayout(header);
  const fileBytes = file.statSync().size;
  if (fileBytes < layout.fileBytes) {
    throw new LogitStoreError(
      `${path}: truncated: the header describes ${layout.fileBytes} bytes but the file has ${fileBytes}${
        describeCut(header, layout, fileBytes)
      }`,
    );
  }
  if (fileBytes > layout.fileBytes) {
    throw new LogitStoreError(
      `${path}: ${
        fileBytes - layout.fileBytes
      } unexpected bytes after the end of the store (expected ${layout.fileBytes} bytes, found ${fileBytes})`,
    );
  }
  const trailer = new Uint8Array(4 * layout.chunkCount + FOOTER_BYTES);
  readExactly(file, path, layout.tableOffset, trailer, "the chunk table");
  const view = new DataView(trailer.buffer);
  const footer = 4 * layout.chunkCount;
  const endMagic = new TextDecoder().decode(trailer.subarray(footer + 8));
  if (endMagic !== STORE_END_MAGIC) {
    throw new LogitStoreError(
      `${path}: end marker missing: the file is incomplete or corrupt`,
    );
  }
  if (view.getUint32(footer, true) !== layout.chunkCount) {
    throw new LogitStoreError(
      `${path}: footer lists ${
        view.getUint32(footer, true)
      } chunks, the header implies ${layout.chunkCount}`,
    );
  }
  const storedTableCrc = view.getUint32(footer + 4, true);
  const tableCrc = crc32(trailer.subarray(0, footer));
  if (storedTableCrc !== tableCrc) {
    throw new LogitStoreError(
      `${path}: chunk checksum table is corrupt (stored 0x${
        hex(storedTableCrc)
      }, computed 0x${hex(tableCrc)})`,
    );
  }
  const chunkCrcs = new Uint32Array(layout.chunkCount);
  for (let i = 0; i < layout.chunkCount; i++) {
    chunkCrcs[i] = view.getUint32(4 * i, true);
  }
  return { header, layout, chunkCrcs, fileBytes };
}

function describeCut(
  header: StoreHeader,
  layout: StoreLayout,
  fileBytes: number,
): string {
  if (fileBytes >= layout.tableOffset) return " (cut inside the chunk table)";
  if (fileBytes < layout.dataOffset) return " (cut inside the header)";
  const image = layout.firstImage +
    Math.floor((fileBytes - layout.dataOffset) / layout.imageBytes);
  const chunk = Math.floor(image / header.chunkImages);
  return ` (cut inside chunk ${chunk}, image ${image})`;
}
