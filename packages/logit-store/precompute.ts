import * as tf from "@tensorflow/tfjs";
import { crc32 } from "./_crc32.ts";
import {
  augmentImage,
  type AugmentSpec,
  type ImageDataset,
  type Normalization,
  normalizeImages,
  viewSeed,
} from "@vitkd/data";
import { encodeRecord, type StoreEncoding } from "./encoding.ts";
import { LogitStoreError } from "./errors.ts";
import {
  canonicalHeader,
  chunkByteRange,
  chunkImageRange,
  computeLayout,
  describeHeaderDifference,
  encodeHeaderBlock,
  encodeTrailer,
  FORMAT_VERSION,
  readHeaderBlock,
  readStructure,
  type ShardSpec,
  type StoreHeader,
  validateHeader,
} from "./format.ts";
import { Journal } from "./_journal.ts";
import { verifyStore } from "./verify.ts";
import { exists, removeIfExists, syncDirectory } from "./_fs.ts";
import type { LayersModel, Tensor2D, Tensor4D } from "./tf_types.ts";

/** The largest finite float16 value. */
const FLOAT16_MAX = 65504;

/**
 * A teacher as precompute sees it: a name, a kind, a fingerprint of its
 * weights, and a forward pass from normalised images `[N,H,W,C]` to logits
 * `[N, classes]`. A `@vitkd/models` teacher model wraps into this in one line.
 */
export interface StoreTeacher {
  /** Name, unique among the teachers. */
  name: string;
  /** Architecture family, e.g. `"cnn"` or `"inn"`. */
  kind: string;
  /** Fingerprint of the weights; a store is bound to it. */
  fingerprint: string;
  /** Logits for a batch of normalised images. */
  predict(x: Tensor4D): Tensor2D;
}

/**
 * Progress of a precompute run, in image views (rows), reported after each
 * batch and after each chunk is durable (`chunksDone` then grows).
 */
export interface PrecomputeProgress {
  /** Views whose logits are computed (resumed chunks included). */
  done: number;
  /** Views this file will hold. */
  total: number;
  /** Views per second computed by this run so far. */
  rate: number;
  /** Chunks written, resumed chunks included. */
  chunksDone: number;
  /** Chunks this file will hold. */
  chunksTotal: number;
}

/** Options of {@linkcode precompute}. */
export interface PrecomputeOptions {
  /** The store file to write (for a shard: that shard's file). */
  path: string;
  /** The training set, exactly as the student will see it. */
  dataset: ImageDataset;
  /** The teachers, in the order the student's distillation tokens use. */
  teachers: StoreTeacher[];
  /** Augmented views per image (`V`, at least 1). */
  views: number;
  /** The augmentation that makes each view; `null` stores the plain image (then `views` must be 1). */
  augmentation: AugmentSpec | null;
  /** View `v` of image `i` uses `viewSeed(baseSeed, i, v)`. */
  baseSeed: number;
  /** Normalisation applied before the teachers run. */
  normalization: Normalization;
  /** How logits are stored. */
  encoding: StoreEncoding;
  /** Number of classes; default `dataset.classNames.length`. */
  numClasses?: number;
  /** Views per teacher forward pass (default 64). */
  batchSize?: number;
  /** Images per checksummed chunk (default 256). */
  chunkImages?: number;
  /** Write only this shard of the chunks. */
  shard?: ShardSpec;
  /** Called after each batch and after each chunk is durably written. */
  onProgress?: (progress: PrecomputeProgress) => void;
  /** Stops the run between batches; the partial file stays resumable. */
  signal?: AbortSignal;
  /** Discard a partial run instead of resuming it. */
  restart?: boolean;
  /** Replace an existing complete store made with other settings. */
  overwrite?: boolean;
}

/** What {@linkcode precompute} did. */
export interface PrecomputeResult {
  /** The complete store file. */
  path: string;
  /** Its header. */
  header: StoreHeader;
  /** Its size in bytes. */
  bytes: number;
  /** `true` when a matching complete store was already there. */
  alreadyComplete: boolean;
  /** Chunks computed by this call. */
  chunksWritten: number;
  /** Chunks taken over from an interrupted run. */
  chunksResumed: number;
  /** Journaled chunks whose bytes were damaged and so were computed again. */
  chunksRepaired: number;
  /** Views computed by this call. */
  viewsComputed: number;
  /** Wall time of this call. */
  seconds: number;
  /** Seconds spent inside teacher forward passes (the ceiling's cost). */
  teacherSeconds: number;
}

/**
 * Wraps a `tf.LayersModel` with one logits output as a {@linkcode StoreTeacher}.
 */
export function storeTeacherFromModel(
  model: LayersModel,
  info: { name: string; kind: string; fingerprint: string },
): StoreTeacher {
  return {
    name: info.name,
    kind: info.kind,
    fingerprint: info.fingerprint,
    predict: (x) => {
      const y = model.predict(x);
      if (Array.isArray(y)) {
        tf.dispose(y);
        throw new LogitStoreError(
          `teacher "${info.name}" has ${y.length} outputs; a teacher has one (logits)`,
        );
      }
      return y as tf.Tensor2D;
    },
  };
}

/** Builds the header a precompute run with these options writes. */
export function buildHeader(options: PrecomputeOptions): StoreHeader {
  const ds = options.dataset;
  const numClasses = options.numClasses ?? ds.classNames?.length;
  if (ds.images.length !== ds.count * ds.height * ds.width * ds.channels) {
    throw new LogitStoreError(
      `data set ${ds.name}: ${ds.images.length} pixel bytes, expected count*height*width*channels = ${
        ds.count * ds.height * ds.width * ds.channels
      }`,
    );
  }
  if (options.augmentation === null && options.views !== 1) {
    throw new LogitStoreError(
      `views = ${options.views} without augmentation would store ${options.views} identical views: use views = 1 or give an augmentation spec`,
    );
  }
  if (!Number.isInteger(options.baseSeed) || options.baseSeed < 0) {
    throw new LogitStoreError(
      `baseSeed must be a non-negative integer, got ${options.baseSeed}`,
    );
  }
  if (
    options.normalization.mean.length !== ds.channels ||
    options.normalization.std.length !== ds.channels
  ) {
    throw new LogitStoreError(
      `normalization has ${options.normalization.mean.length} means and ${options.normalization.std.length} stds, the data has ${ds.channels} channels`,
    );
  }
  const header: StoreHeader = canonicalHeader({
    formatVersion: FORMAT_VERSION,
    dataset: {
      name: ds.name,
      fingerprint: ds.fingerprint,
      count: ds.count,
      height: ds.height,
      width: ds.width,
      channels: ds.channels,
    },
    numClasses: numClasses as number,
    views: options.views,
    teachers: options.teachers.map((t) => ({
      name: t.name,
      kind: t.kind,
      fingerprint: t.fingerprint,
    })),
    encoding: options.encoding,
    augmentation: options.augmentation as Record<string, unknown> | null,
    baseSeed: options.baseSeed,
    normalization: options.normalization,
    chunkImages: options.chunkImages ?? 256,
    shard: options.shard ?? null,
  });
  try {
    validateHeader(header);
  } catch (err) {
    throw new LogitStoreError(`precompute: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return header;
}

/**
 * Runs every teacher over every view of every image (of one shard, if
 * asked) and writes their logits to a store, atomically: it writes
 * `<path>.partial` chunk by chunk, records each finished chunk (with its
 * checksum) in `<path>.journal` after an fsync, and renames the partial to
 * `path` only when complete. An interrupted run resumes at the first chunk
 * the journal does not list; the result is byte-identical to an
 * uninterrupted run.
 *
 * ```ts ignore
 * import { precompute } from "@vitkd/logit-store";
 * await precompute({
 *   path: "runs/demo/logits.vkl", dataset, teachers, views: 4,
 *   augmentation: { padding: 4, flip: true }, baseSeed: 1,
 *   normalization, encoding: { kind: "dense", dtype: "float16" },
 *   onProgress: (p) => console.log(p.done, p.total, p.rate),
 * });
 * ```
 */
export async function precompute(
  options: PrecomputeOptions,
): Promise<PrecomputeResult> {
  const started = performance.now();
  const header = buildHeader(options);
  const layout = computeLayout(header);
  const block = encodeHeaderBlock(header);
  const path = options.path;
  const partialPath = `${path}.partial`;
  const journalPath = `${path}.journal`;
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new LogitStoreError(
      `batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  if (layout.chunkCount === 0) {
    throw new LogitStoreError(
      `shard ${header.shard?.index} of ${header.shard?.count} would hold no chunks (${layout.totalChunks} chunks in all): use fewer shards or smaller chunkImages`,
    );
  }

  const result = (over: Partial<PrecomputeResult>): PrecomputeResult => ({
    path,
    header,
    bytes: layout.fileBytes,
    alreadyComplete: false,
    chunksWritten: 0,
    chunksResumed: 0,
    chunksRepaired: 0,
    viewsComputed: 0,
    seconds: (performance.now() - started) / 1000,
    teacherSeconds: 0,
    ...over,
  });

  if (await exists(path) && !options.overwrite) {
    using file = await Deno.open(path, { read: true });
    let existing: StoreHeader;
    try {
      existing = readStructure(file, path).header;
    } catch (err) {
      throw new LogitStoreError(
        `${path} exists but is not a valid store (${
          (err as Error).message
        }); pass overwrite to replace it`,
        { cause: err },
      );
    }
    const diff = describeHeaderDifference(existing, header);
    if (diff) {
      throw new LogitStoreError(
        `${path} already holds a store made with other settings (${diff}); pass overwrite to replace it`,
      );
    }
    // Complete means every chunk checks out, not just a readable header: a
    // damaged store must not pass for done.
    const report = await verifyStore(path);
    if (!report.ok) {
      throw new LogitStoreError(
        `${path} is damaged (${report.problem}); pass overwrite to compute it again`,
      );
    }
    await removeIfExists(partialPath);
    await removeIfExists(journalPath);
    return result({ alreadyComplete: true });
  }

  if (options.restart) {
    await removeIfExists(partialPath);
    await removeIfExists(journalPath);
  }
  let resuming = await exists(partialPath);
  if (resuming) {
    const problem = await partialProblem(partialPath, header);
    if (problem && options.overwrite) {
      // overwrite replaces whatever is there, an unusable partial included.
      await Deno.remove(partialPath);
      await removeIfExists(journalPath);
      resuming = false;
    } else if (problem) {
      throw new LogitStoreError(
        `${partialPath}: ${problem}; pass restart (or overwrite) to discard it`,
      );
    }
  }

  if (!resuming) {
    // The partial appears with its header block already in it (written
    // beside it, synced, renamed), so a kill at any moment leaves either no
    // partial or one that can be resumed.
    const fresh = `${partialPath}.tmp-${Deno.pid}`;
    const tmp = await Deno.open(fresh, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      await writeAt(tmp, 0, block);
      await tmp.syncData();
    } finally {
      tmp.close();
    }
    await Deno.rename(fresh, partialPath);
  }
  const file = await Deno.open(partialPath, { read: true, write: true });
  const journal = Journal.open(journalPath, block, !resuming);
  let chunksWritten = 0;
  let chunksResumed = 0;
  let chunksRepaired = 0;
  let viewsComputed = 0;
  let teacherSeconds = 0;
  try {
    const crcs = new Uint32Array(layout.chunkCount);
    const done = new Uint8Array(layout.chunkCount);
    for (const entry of journal.entries) {
      const local = entry.chunk - layout.firstChunk;
      if (local < 0 || local >= layout.chunkCount) continue;
      const range = chunkByteRange(header, layout, entry.chunk);
      const bytes = new Uint8Array(range.bytes);
      const got = readAt(file, range.offset, bytes);
      if (got === bytes.length && crc32(bytes) === entry.crc) {
        crcs[local] = entry.crc;
        if (!done[local]) chunksResumed++;
        done[local] = 1;
      } else {
        chunksRepaired++;
      }
    }
    const totalViews = layout.imageCount * header.views;
    let viewsDone = 0;
    for (let i = 0; i < layout.chunkCount; i++) {
      if (done[i]) {
        const r = chunkImageRange(header, layout.firstChunk + i);
        viewsDone += (r.end - r.start) * header.views;
      }
    }
    let chunksDone = chunksResumed;
    const report = () => {
      const elapsed = (performance.now() - started) / 1000;
      options.onProgress?.({
        done: viewsDone,
        total: totalViews,
        rate: elapsed > 0 ? viewsComputed / elapsed : 0,
        chunksDone,
        chunksTotal: layout.chunkCount,
      });
    };
    report();
    for (let local = 0; local < layout.chunkCount; local++) {
      if (done[local]) continue;
      const chunk = layout.firstChunk + local;
      const range = chunkByteRange(header, layout, chunk);
      const bytes = new Uint8Array(range.bytes);
      const timing = await computeChunk(
        options,
        header,
        chunk,
        bytes,
        batchSize,
        (views) => {
          viewsComputed += views;
          viewsDone += views;
          report();
        },
      );
      teacherSeconds += timing.teacherSeconds;
      const crc = crc32(bytes);
      await writeAt(file, range.offset, bytes);
      await file.syncData();
      journal.append(chunk, crc);
      crcs[local] = crc;
      done[local] = 1;
      chunksWritten++;
      chunksDone++;
      report();
    }
    await writeAt(file, layout.tableOffset, encodeTrailer(crcs));
    await file.truncate(layout.fileBytes);
    await file.sync();
  } finally {
    file.close();
    journal.close();
  }
  await Deno.rename(partialPath, path);
  syncDirectory(path);
  await removeIfExists(journalPath);
  return result({
    chunksWritten,
    chunksResumed,
    chunksRepaired,
    viewsComputed,
    teacherSeconds,
  });
}

/** Why the partial at `path` cannot be resumed for `header`, or `null`. */
async function partialProblem(
  path: string,
  header: StoreHeader,
): Promise<string | null> {
  using old = await Deno.open(path, { read: true });
  let oldHeader: StoreHeader;
  try {
    oldHeader = readHeaderBlock(old, path).header;
  } catch (err) {
    return `an interrupted run left a partial store that cannot be resumed (${
      (err as Error).message
    })`;
  }
  const diff = describeHeaderDifference(oldHeader, header);
  return diff
    ? `an interrupted run with other settings is there (${diff})`
    : null;
}

async function computeChunk(
  options: PrecomputeOptions,
  header: StoreHeader,
  chunk: number,
  out: Uint8Array,
  batchSize: number,
  onBatch: (views: number) => void,
): Promise<{ teacherSeconds: number }> {
  const ds = options.dataset;
  const { start, end } = chunkImageRange(header, chunk);
  const views = header.views;
  const rows = (end - start) * views;
  const pixels = ds.height * ds.width * ds.channels;
  const shape = { height: ds.height, width: ds.width, channels: ds.channels };
  const layout = computeLayout(header);
  const numClasses = header.numClasses;
  let teacherSeconds = 0;
  for (let r0 = 0; r0 < rows; r0 += batchSize) {
    options.signal?.throwIfAborted();
    const n = Math.min(batchSize, rows - r0);
    const u8 = new Uint8Array(n * pixels);
    for (let j = 0; j < n; j++) {
      const image = start + Math.floor((r0 + j) / views);
      const view = (r0 + j) % views;
      const src = ds.images.subarray(image * pixels, (image + 1) * pixels);
      u8.set(
        options.augmentation
          ? augmentImage(
            src,
            shape,
            options.augmentation,
            viewSeed(header.baseSeed, image, view),
          )
          : src,
        j * pixels,
      );
    }
    const x = normalizeImages(
      u8,
      n,
      ds.height,
      ds.width,
      ds.channels,
      options.normalization,
    );
    try {
      for (const [t, teacher] of options.teachers.entries()) {
        const t0 = performance.now();
        const logits = tf.tidy(() => teacher.predict(x));
        let values: Float32Array;
        try {
          if (
            logits.shape.length !== 2 || logits.shape[0] !== n ||
            logits.shape[1] !== numClasses
          ) {
            throw new LogitStoreError(
              `teacher "${teacher.name}" returned logits of shape [${logits.shape}], expected [${n}, ${numClasses}]`,
            );
          }
          values = await logits.data() as Float32Array;
        } finally {
          logits.dispose();
        }
        teacherSeconds += (performance.now() - t0) / 1000;
        for (let j = 0; j < n; j++) {
          for (let c = 0; c < numClasses; c++) {
            const value = values[j * numClasses + c];
            const image = start + Math.floor((r0 + j) / views);
            if (!Number.isFinite(value)) {
              throw new LogitStoreError(
                `teacher "${teacher.name}" gave a non-finite logit (${value}) for image ${image}, view ${
                  (r0 + j) % views
                }, class ${c}`,
              );
            }
            // float16 turns these into infinities, which would poison the
            // student's loss long after precompute reported success
            if (
              header.encoding.dtype === "float16" &&
              Math.abs(value) > FLOAT16_MAX
            ) {
              throw new LogitStoreError(
                `teacher "${teacher.name}" gave a logit of ${value} for image ${image}, view ${
                  (r0 + j) % views
                }, class ${c}: beyond float16's range (±${FLOAT16_MAX}); store float32 logits instead`,
              );
            }
          }
          encodeRecord(
            values,
            j * numClasses,
            numClasses,
            header.encoding,
            out,
            (r0 + j) * layout.rowBytes + t * layout.recordBytes,
          );
        }
      }
    } finally {
      x.dispose();
    }
    onBatch(n);
  }
  return { teacherSeconds };
}

async function writeAt(
  file: Deno.FsFile,
  offset: number,
  bytes: Uint8Array,
): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

function readAt(file: Deno.FsFile, offset: number, out: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < out.length) {
    const n = file.readSync(out.subarray(got));
    if (!n) break;
    got += n;
  }
  return got;
}
