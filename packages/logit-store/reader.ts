import * as tf from "@tensorflow/tfjs";
import { crc32 } from "./_crc32.ts";
import { decodeRecord } from "./encoding.ts";
import { FLOAT16_TABLE } from "./_float16.ts";
import type { Tensor2D } from "./tf_types.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
import { LogitStoreError } from "./errors.ts";
import { exists } from "./_fs.ts";
import { verifyStore } from "./verify.ts";
import {
  chunkByteRange,
  readStructure,
  type StoreHeader,
  type StoreLayout,
} from "./format.ts";
import { hex, readExactly } from "./_io.ts";

/** What the caller is about to use the store with; mismatches are refused. */
export interface StoreExpectation {
  /** Fingerprint of the data set in use. */
  datasetFingerprint?: string;
  /** The teachers in use, in order (name and weight fingerprint; kind optional). */
  teachers?: { name: string; fingerprint: string; kind?: string }[];
  /** Number of classes in use. */
  numClasses?: number;
}

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** Refuse the store unless it was made for this data and these teachers. */
  expect?: StoreExpectation;
  /** Open despite a mismatch with `expect` (explicit override). */
  allowMismatch?: boolean;
  /**
   * Memory for whole chunks kept in RAM (default 256 MiB). When the data
   * section fits, chunks are read once, checksummed and kept; otherwise rows
   * are read by offset and nothing is cached, so every chunk's checksum is
   * checked once when the store is opened.
   */
  cacheBytes?: number;
  /**
   * The caller has just verified the whole store (`verifyStore`): skip the
   * checksum pass an uncached open makes.
   */
  verified?: boolean;
}

/**
 * Why a store does not fit the data or teachers in use, one line per
 * mismatch (empty when it fits).
 */
export function storeMismatches(
  header: StoreHeader,
  expect: StoreExpectation,
): string[] {
  const problems: string[] = [];
  if (
    expect.datasetFingerprint !== undefined &&
    expect.datasetFingerprint !== header.dataset.fingerprint
  ) {
    problems.push(
      `data set fingerprint: the store was made from ${header.dataset.fingerprint} ("${header.dataset.name}"), the data in use is ${expect.datasetFingerprint}`,
    );
  }
  if (
    expect.numClasses !== undefined && expect.numClasses !== header.numClasses
  ) {
    problems.push(
      `classes: the store has ${header.numClasses}, in use ${expect.numClasses}`,
    );
  }
  if (expect.teachers) {
    const stored = header.teachers;
    if (stored.length !== expect.teachers.length) {
      problems.push(
        `teachers: the store has ${stored.length} (${
          stored.map((t) => t.name).join(", ")
        }), in use ${expect.teachers.length} (${
          expect.teachers.map((t) => t.name).join(", ")
        })`,
      );
    } else {
      expect.teachers.forEach((t, i) => {
        const s = stored[i];
        if (s.name !== t.name) {
          problems.push(
            `teacher ${i}: the store has "${s.name}", in use "${t.name}"`,
          );
        } else if (s.fingerprint !== t.fingerprint) {
          problems.push(
            `teacher "${t.name}" weights: the store was made with fingerprint ${s.fingerprint}, in use ${t.fingerprint}`,
          );
        } else if (t.kind !== undefined && t.kind !== s.kind) {
          problems.push(
            `teacher "${t.name}" kind: the store has "${s.kind}", in use "${t.kind}"`,
          );
        }
      });
    }
  }
  return problems;
}

/**
 * Opens a complete store for random access. Checks the structure (magic,
 * version, header checksum, size, chunk table) and, with `expect`, that the
 * store belongs to the data and teachers in use. Every row read is
 * checksummed: with its chunk when chunks are cached, else by a pass over
 * every chunk here.
 *
 * ```ts ignore
 * import { openStore } from "@vitkd/logit-store";
 * const reader = await openStore("runs/demo/logits.vkl", {
 *   expect: { datasetFingerprint: ds.fingerprint, teachers },
 * });
 * const [cnn, inn] = reader.readBatch([5, 9], [0, 3]); // each [2 * C]
 * reader.close();
 * ```
 */
export async function openStore(
  path: string,
  options: OpenStoreOptions = {},
): Promise<StoreReader> {
  if (!(await exists(path))) {
    if (await exists(`${path}.partial`)) {
      throw new LogitStoreError(
        `${path} is not complete: an interrupted precompute left ${path}.partial; run precompute again with the same settings to resume it`,
      );
    }
    throw new LogitStoreError(`${path}: no such logit store`);
  }
  const file = await Deno.open(path, { read: true });
  try {
    const structure = readStructure(file, path);
    const cacheBytes = options.cacheBytes ?? 256 * 1024 * 1024;
    if (structure.layout.dataBytes > cacheBytes && !options.verified) {
      // Rows will be read by offset, without their chunk: check every chunk
      // now (streaming, one chunk of memory), so no read returns bad bytes.
      const report = await verifyStore(path);
      if (!report.ok) {
        throw new LogitStoreError(
          `${report.problem}: the store is corrupt; compute it again`,
        );
      }
    }
    if (options.expect) {
      const problems = storeMismatches(structure.header, options.expect);
      if (problems.length > 0 && !options.allowMismatch) {
        throw new LogitStoreError(
          `${path} does not match what is in use:\n  ${
            problems.join("\n  ")
          }\n(recompute the store, or pass allowMismatch to use it anyway)`,
        );
      }
    }
    return new StoreReader(
      path,
      file,
      structure.header,
      structure.layout,
      structure.chunkCrcs,
      cacheBytes,
    );
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Random access to a store's rows; see {@linkcode openStore}. */
export class StoreReader {
  /** The store file. */
  readonly path: string;
  /** Its header. */
  readonly header: StoreHeader;
  /** Offsets derived from the header. */
  readonly layout: StoreLayout;
  #file: Deno.FsFile;
  #crcs: Uint32Array;
  #chunks: (Uint8Array | undefined)[] | null;
  #row: Uint8Array;
  #closed = false;
  #rowOffset = 0;
  #dense16: boolean;
  #rowChunk = 0;
  #chunkHalves: (Uint16Array | undefined)[] = [];
  #rowHalves: Uint16Array;

  /** Use {@linkcode openStore}. */
  constructor(
    path: string,
    file: Deno.FsFile,
    header: StoreHeader,
    layout: StoreLayout,
    chunkCrcs: Uint32Array,
    cacheBytes: number,
  ) {
    this.path = path;
    this.#file = file;
    this.header = header;
    this.layout = layout;
    this.#crcs = chunkCrcs;
    this.#chunks = layout.dataBytes <= cacheBytes
      ? new Array(layout.chunkCount)
      : null;
    this.#row = new Uint8Array(layout.rowBytes + (layout.rowBytes & 1));
    this.#rowHalves = new Uint16Array(this.#row.buffer);
    this.#dense16 = header.encoding.kind === "dense" &&
      header.encoding.dtype === "float16" && LITTLE_ENDIAN;
  }

  /** Number of teachers `T`. */
  get teacherCount(): number {
    return this.header.teachers.length;
  }

  /** Number of classes `C`. */
  get numClasses(): number {
    return this.header.numClasses;
  }

  /**
   * The stored logits of the rows (image `imageIndices[b]`, view
   * `viewIndices[b]`): one `Float32Array` of `B * C` per teacher, row-major.
   * Top-k stores are recovered by their rule (see the format doc). Pass
   * `out` (one array of at least `B * C` per teacher) to reuse buffers.
   */
  readBatch(
    imageIndices: ArrayLike<number>,
    viewIndices: ArrayLike<number>,
    out?: Float32Array[],
  ): Float32Array[] {
    if (this.#closed) {
      throw new LogitStoreError(`${this.path}: readBatch after close`);
    }
    const b = imageIndices.length;
    if (viewIndices.length !== b) {
      throw new LogitStoreError(
        `readBatch: ${b} image indices but ${viewIndices.length} view indices`,
      );
    }
    const { header, layout } = this;
    const c = header.numClasses;
    const t = header.teachers.length;
    if (out) {
      if (out.length !== t || out.some((o) => o.length < b * c)) {
        throw new LogitStoreError(
          `readBatch: out must hold ${t} arrays of at least ${b * c} floats`,
        );
      }
    } else {
      const all = new Float32Array(t * b * c);
      out = Array.from(
        { length: t },
        (_, k) => all.subarray(k * b * c, (k + 1) * b * c),
      );
    }
    for (let j = 0; j < b; j++) {
      const image = imageIndices[j];
      const view = viewIndices[j];
      if (
        !Number.isInteger(image) || image < layout.firstImage ||
        image >= layout.firstImage + layout.imageCount
      ) {
        throw new LogitStoreError(
          `readBatch: image index ${image} is outside this store's images ${layout.firstImage}..${
            layout.firstImage + layout.imageCount - 1
          }`,
        );
      }
      if (!Number.isInteger(view) || view < 0 || view >= header.views) {
        throw new LogitStoreError(
          `readBatch: view index ${view} is outside 0..${header.views - 1}`,
        );
      }
      const bytes = this.#locateRow(image, view);
      const offset = this.#rowOffset;
      if (this.#dense16) {
        // Hot path: chunk buffers start on a fresh ArrayBuffer and every
        // record offset is even, so the halves are read through one view.
        const halves = this.#halves(bytes);
        for (let k = 0; k < t; k++) {
          const src = (offset + k * layout.recordBytes) >> 1;
          const dst = out[k];
          const at = j * c;
          for (let i = 0; i < c; i++) {
            dst[at + i] = FLOAT16_TABLE[halves[src + i]];
          }
        }
        continue;
      }
      for (let k = 0; k < t; k++) {
        decodeRecord(
          bytes,
          offset + k * layout.recordBytes,
          c,
          header.encoding,
          out[k],
          j * c,
        );
      }
    }
    return out;
  }

  /** {@linkcode readBatch} as one `[B, C]` tensor per teacher (caller disposes). */
  readBatchTensors(
    imageIndices: ArrayLike<number>,
    viewIndices: ArrayLike<number>,
  ): Tensor2D[] {
    const b = imageIndices.length;
    return this.readBatch(imageIndices, viewIndices).map((values) =>
      tf.tensor2d(values, [b, this.header.numClasses])
    );
  }

  #halves(bytes: Uint8Array): Uint16Array {
    if (bytes === this.#row) return this.#rowHalves;
    const local = this.#rowChunk;
    let halves = this.#chunkHalves[local];
    if (!halves) {
      halves = new Uint16Array(
        bytes.buffer,
        bytes.byteOffset,
        bytes.length >> 1,
      );
      this.#chunkHalves[local] = halves;
    }
    return halves;
  }

  /** The buffer holding row (image, view); its offset goes to #rowOffset. */
  #locateRow(image: number, view: number): Uint8Array {
    const { header, layout } = this;
    const rowInFile = (image - layout.firstImage) * header.views + view;
    if (this.#chunks) {
      const chunk = Math.floor(image / header.chunkImages);
      const local = chunk - layout.firstChunk;
      let bytes = this.#chunks[local];
      if (!bytes) {
        bytes = this.#loadChunk(chunk);
        this.#chunks[local] = bytes;
      }
      const chunkStartRow = (chunk * header.chunkImages - layout.firstImage) *
        header.views;
      this.#rowOffset = (rowInFile - chunkStartRow) * layout.rowBytes;
      this.#rowChunk = local;
      return bytes;
    }
    readExactly(
      this.#file,
      this.path,
      layout.dataOffset + rowInFile * layout.rowBytes,
      this.#row.subarray(0, layout.rowBytes),
      `row (image ${image}, view ${view})`,
    );
    this.#rowOffset = 0;
    return this.#row;
  }

  #loadChunk(chunk: number): Uint8Array {
    const range = chunkByteRange(this.header, this.layout, chunk);
    const bytes = new Uint8Array(range.bytes);
    readExactly(this.#file, this.path, range.offset, bytes, `chunk ${chunk}`);
    const stored = this.#crcs[chunk - this.layout.firstChunk];
    const actual = crc32(bytes);
    if (stored !== actual) {
      throw new LogitStoreError(
        `${this.path}: chunk ${chunk} checksum mismatch (stored 0x${
          hex(stored)
        }, computed 0x${hex(actual)}): the store is corrupt, run verify`,
      );
    }
    return bytes;
  }

  /** Closes the file and drops the cache. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = null;
    this.#file.close();
  }

  /** Closes the reader at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
