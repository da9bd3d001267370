import { crc32 } from "./_crc32.ts";
import { LogitStoreError } from "./errors.ts";
import {
  chunkByteRange,
  computeLayout,
  describeHeaderDifference,
  encodeHeaderBlock,
  encodeTrailer,
  readStructure,
  type StoreHeader,
  type StoreStructure,
} from "./format.ts";
import { hex, readExactly } from "./_io.ts";
import { syncDirectory } from "./_fs.ts";

/** Options of {@linkcode mergeShards}. */
export interface MergeOptions {
  /** Replace an existing file at the output path. */
  overwrite?: boolean;
  /** Called after each chunk is copied. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** What {@linkcode mergeShards} wrote. */
export interface MergeResult {
  /** The merged store. */
  path: string;
  /** Its header (no shard field). */
  header: StoreHeader;
  /** Its size in bytes. */
  bytes: number;
  /** Chunks copied. */
  chunks: number;
}

/**
 * Joins the shard files of one run (all `count` of them, any order) into one
 * store, byte-identical to the store an unsharded run writes. Every chunk's
 * checksum is checked while it is copied; the output is written to
 * `<outPath>.partial` and renamed when complete. Memory: one chunk.
 */
export async function mergeShards(
  shardPaths: string[],
  outPath: string,
  options: MergeOptions = {},
): Promise<MergeResult> {
  if (shardPaths.length === 0) {
    throw new LogitStoreError("mergeShards: no shard files given");
  }
  if (!options.overwrite) {
    try {
      await Deno.lstat(outPath);
      throw new LogitStoreError(
        `${outPath} already exists; pass overwrite to replace it`,
      );
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  const files: Deno.FsFile[] = [];
  try {
    const shards: { path: string; file: Deno.FsFile; s: StoreStructure }[] = [];
    for (const path of shardPaths) {
      const file = await Deno.open(path, { read: true });
      files.push(file);
      const s = readStructure(file, path);
      if (!s.header.shard) {
        throw new LogitStoreError(
          `${path} is a complete store, not a shard: nothing to merge`,
        );
      }
      shards.push({ path, file, s });
    }
    const first = shards[0];
    const count = first.s.header.shard!.count;
    const merged: StoreHeader = { ...first.s.header, shard: null };
    for (const shard of shards) {
      const diff = describeHeaderDifference(
        { ...shard.s.header, shard: null },
        merged,
      );
      if (diff) {
        throw new LogitStoreError(
          `${shard.path} belongs to another run than ${first.path} (${diff})`,
        );
      }
      if (shard.s.header.shard!.count !== count) {
        throw new LogitStoreError(
          `${shard.path} is shard ${shard.s.header.shard!.index} of ${
            shard.s.header.shard!.count
          }, ${first.path} is one of ${count}`,
        );
      }
    }
    const byIndex = new Array<(typeof shards)[number] | undefined>(count);
    for (const shard of shards) {
      const index = shard.s.header.shard!.index;
      if (byIndex[index]) {
        throw new LogitStoreError(
          `shard ${index} is given twice: ${
            byIndex[index]!.path
          } and ${shard.path}`,
        );
      }
      byIndex[index] = shard;
    }
    const missing = [...byIndex.keys()].filter((i) => !byIndex[i]);
    if (missing.length > 0) {
      throw new LogitStoreError(
        `cannot merge: shard${missing.length > 1 ? "s" : ""} ${
          missing.join(", ")
        } of ${count} missing`,
      );
    }
    const layout = computeLayout(merged);
    const crcs = new Uint32Array(layout.chunkCount);
    const partial = `${outPath}.partial`;
    const out = await Deno.open(partial, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      await writeAll(out, encodeHeaderBlock(merged));
      let done = 0;
      for (const shard of byIndex as (typeof shards)[number][]) {
        const { header, layout: shardLayout, chunkCrcs } = shard.s;
        for (let local = 0; local < shardLayout.chunkCount; local++) {
          const chunk = shardLayout.firstChunk + local;
          const range = chunkByteRange(header, shardLayout, chunk);
          const bytes = new Uint8Array(range.bytes);
          readExactly(
            shard.file,
            shard.path,
            range.offset,
            bytes,
            `chunk ${chunk}`,
          );
          const actual = crc32(bytes);
          if (actual !== chunkCrcs[local]) {
            throw new LogitStoreError(
              `${shard.path}: chunk ${chunk} checksum mismatch (stored 0x${
                hex(chunkCrcs[local])
              }, computed 0x${hex(actual)}): recompute this shard`,
            );
          }
          crcs[chunk] = actual;
          await writeAll(out, bytes);
          done++;
          options.onProgress?.({ done, total: layout.chunkCount });
        }
      }
      await writeAll(out, encodeTrailer(crcs));
      await out.sync();
    } catch (err) {
      out.close();
      // Best effort: the merge's own error is the one to report.
      await Deno.remove(partial).catch(() => {});
      throw err;
    }
    out.close();
    await Deno.rename(partial, outPath);
    syncDirectory(outPath);
    return {
      path: outPath,
      header: merged,
      bytes: layout.fileBytes,
      chunks: layout.chunkCount,
    };
  } finally {
    for (const f of files) f.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}
