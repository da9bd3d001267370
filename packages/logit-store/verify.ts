import { crc32 } from "./_crc32.ts";
import { LogitStoreError } from "./errors.ts";
import {
  chunkByteRange,
  chunkImageRange,
  readStructure,
  type StoreHeader,
} from "./format.ts";
import { hex } from "./_io.ts";

/** The outcome of {@linkcode verifyStore}. */
export interface VerifyReport {
  /** The file checked. */
  path: string;
  /** `true` when the structure and every checksum are right. */
  ok: boolean;
  /** Chunks whose checksum was checked and found right. */
  chunksChecked: number;
  /** Chunks in the file (0 when the structure is unreadable). */
  chunksTotal: number;
  /** Size of the file. */
  bytes: number;
  /** The header, when it could be read. */
  header?: StoreHeader;
  /** The first bad chunk, if a chunk is bad. */
  badChunk?: number;
  /** What is wrong, naming the file, the chunk and the images it holds. */
  problem?: string;
}

/**
 * Checks a store: magic, version, header checksum, size, footer, the chunk
 * table's checksum and every chunk's CRC-32, streaming (memory of one
 * chunk). Reports the first problem instead of throwing; throws only when
 * the file cannot be opened.
 */
export async function verifyStore(
  path: string,
  options: { onProgress?: (p: { done: number; total: number }) => void } = {},
): Promise<VerifyReport> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new LogitStoreError(
      `${path}: cannot open: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    const bytes = (await file.stat()).size;
    let structure;
    try {
      structure = readStructure(file, path);
    } catch (err) {
      if (!(err instanceof LogitStoreError)) throw err;
      return {
        path,
        ok: false,
        chunksChecked: 0,
        chunksTotal: 0,
        bytes,
        problem: err.message,
      };
    }
    const { header, layout, chunkCrcs } = structure;
    for (let local = 0; local < layout.chunkCount; local++) {
      const chunk = layout.firstChunk + local;
      const range = chunkByteRange(header, layout, chunk);
      const data = new Uint8Array(range.bytes);
      await file.seek(range.offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < data.length) {
        const n = await file.read(data.subarray(got));
        if (!n) break;
        got += n;
      }
      const actual = crc32(data);
      if (actual !== chunkCrcs[local]) {
        const images = chunkImageRange(header, chunk);
        return {
          path,
          ok: false,
          chunksChecked: local,
          chunksTotal: layout.chunkCount,
          bytes,
          header,
          badChunk: chunk,
          problem: `${path}: chunk ${chunk} (images ${images.start}..${
            images.end - 1
          }, bytes ${range.offset}..${
            range.offset + range.bytes - 1
          }) checksum mismatch: stored 0x${hex(chunkCrcs[local])}, computed 0x${
            hex(actual)
          }`,
        };
      }
      options.onProgress?.({ done: local + 1, total: layout.chunkCount });
    }
    return {
      path,
      ok: true,
      chunksChecked: layout.chunkCount,
      chunksTotal: layout.chunkCount,
      bytes,
      header,
    };
  } finally {
    file.close();
  }
}
