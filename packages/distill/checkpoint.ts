import { DistillError } from "./errors.ts";
import type { TrainerState } from "./loop.ts";

/** Format id written into every checkpoint header. */
export const CHECKPOINT_FORMAT = "vitkd-trainer-state";
/** Version of the checkpoint format this package writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** The checkpoint file: header and data in one file, replaced by one rename. */
export const CHECKPOINT_FILE = "trainer_state.ckpt";
const MAGIC = "VKDCKPT1";
// The two files of version-1 checkpoints written by earlier builds: read
// (when no CHECKPOINT_FILE is there), never written.
const HEADER_FILE = "trainer_state.json";
const DATA_FILE = "trainer_state.bin";

interface ArrayEntry {
  offset: number;
  length: number;
}

interface CheckpointHeader {
  format: string;
  version: number;
  dataBytes: number;
  /** SHA-256 of the data file, hex. */
  dataHash: string;
  seed: number;
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  epochTotals: TrainerState["epochTotals"];
  optimizerStep: number;
  m: ArrayEntry[];
  v: ArrayEntry[];
  weights: { name: string; shape: number[]; offset: number; length: number }[];
  extra?: unknown;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, {
    write: true,
    create: true,
    truncate: true,
  });
  try {
    let written = 0;
    while (written < data.length) {
      written += await file.write(data.subarray(written));
    }
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  // The rename itself must reach the disk before the old file is trusted gone.
  try {
    const dir = await Deno.open(path.slice(0, path.lastIndexOf("/")) || ".");
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  } catch {
    // Best effort: directories cannot be opened for syncing on every
    // platform, and the rename itself has succeeded.
  }
}

/**
 * Writes `state` into `dir` (created if needed) as one file,
 * `trainer_state.ckpt`: a magic, the JSON header's length, the header (with
 * the data's size and SHA-256) and the data. It is written to a temporary
 * file, synced and renamed over the previous checkpoint, so a crash at any
 * point (SIGKILL or power loss) leaves either the previous checkpoint or the
 * new one, whole. `extra` is any JSON the caller wants back on load.
 */
export async function saveCheckpoint(
  dir: string,
  state: TrainerState,
  extra?: unknown,
): Promise<void> {
  const arrays = [
    ...state.optimizer.m,
    ...state.optimizer.v,
    ...state.weights.map((w) => w.data),
  ];
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const data = new Float32Array(total);
  const entries: ArrayEntry[] = [];
  let offset = 0;
  for (const array of arrays) {
    data.set(array, offset);
    entries.push({ offset, length: array.length });
    offset += array.length;
  }
  const bytes = new Uint8Array(data.buffer);
  const moments = state.optimizer.m.length;
  const header: CheckpointHeader = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    dataBytes: bytes.length,
    dataHash: await sha256Hex(bytes),
    seed: state.seed,
    epoch: state.epoch,
    stepInEpoch: state.stepInEpoch,
    globalStep: state.globalStep,
    epochTotals: state.epochTotals,
    optimizerStep: state.optimizer.step,
    m: entries.slice(0, moments),
    v: entries.slice(moments, 2 * moments),
    weights: state.weights.map((w, i) => ({
      name: w.name,
      shape: w.shape,
      ...entries[2 * moments + i],
    })),
    extra,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(12 + json.length + bytes.length);
  file.set(new TextEncoder().encode(MAGIC));
  new DataView(file.buffer).setUint32(8, json.length, true);
  file.set(json, 12);
  file.set(bytes, 12 + json.length);
  await Deno.mkdir(dir, { recursive: true });
  await writeAtomic(`${dir}/${CHECKPOINT_FILE}`, file);
  // A pair left by an earlier build would otherwise outlive this checkpoint.
  for (const legacy of [HEADER_FILE, DATA_FILE]) {
    await Deno.remove(`${dir}/${legacy}`).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** A checkpoint read back by {@linkcode loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The trainer state, for `Trainer.setState`. */
  state: TrainerState;
  /** The `extra` JSON given to `saveCheckpoint`. */
  extra?: unknown;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Whether `dir` holds a checkpoint (or the header of an earlier build's pair). */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return await isFile(`${dir}/${CHECKPOINT_FILE}`) ||
    await isFile(`${dir}/${HEADER_FILE}`);
}

/** The header and data of the one-file checkpoint at `path`. */
function splitCheckpointFile(
  path: string,
  file: Uint8Array,
): { header: unknown; bytes: Uint8Array } {
  const magic = new TextDecoder().decode(file.subarray(0, 8));
  if (file.length < 12 || magic !== MAGIC) {
    throw new DistillError(
      `checkpoint ${path}: not a checkpoint file (no ${MAGIC} magic)`,
      { code: "corrupt", path },
    );
  }
  const length = new DataView(file.buffer, file.byteOffset, file.length)
    .getUint32(8, true);
  if (12 + length > file.length) {
    throw new DistillError(
      `checkpoint ${path}: truncated: the header needs ${length} bytes, ${
        file.length - 12
      } follow`,
      { code: "corrupt", path },
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder().decode(file.subarray(12, 12 + length)),
    );
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new DistillError(
      `checkpoint ${path}: unreadable header (${error.message})`,
      { code: "corrupt", path, cause: error },
    );
  }
  return { header, bytes: file.slice(12 + length) };
}

/**
 * Reads a checkpoint written by {@linkcode saveCheckpoint}; a missing file,
 * another format or version, or data that does not match the header's size
 * or hash fails with a {@linkcode DistillError} naming the file and the
 * problem (code `not-found`, `corrupt` or `unsupported`).
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const onePath = `${dir}/${CHECKPOINT_FILE}`;
  let headerPath = onePath;
  let dataPath = onePath;
  let header: CheckpointHeader;
  let bytes: Uint8Array;
  if (await isFile(onePath)) {
    const split = splitCheckpointFile(onePath, await Deno.readFile(onePath));
    header = split.header as CheckpointHeader;
    bytes = split.bytes;
  } else {
    headerPath = `${dir}/${HEADER_FILE}`;
    dataPath = `${dir}/${DATA_FILE}`;
    try {
      header = JSON.parse(await Deno.readTextFile(headerPath));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DistillError(`checkpoint ${onePath}: not found`, {
          code: "not-found",
          path: onePath,
          cause: error,
        });
      }
      if (!(error instanceof SyntaxError)) throw error;
      throw new DistillError(
        `checkpoint ${headerPath}: unreadable (${error.message})`,
        { code: "corrupt", path: headerPath, cause: error },
      );
    }
    try {
      bytes = await Deno.readFile(dataPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DistillError(`checkpoint ${dataPath}: not found`, {
          code: "not-found",
          path: dataPath,
          cause: error,
        });
      }
      throw error;
    }
  }
  if (header?.format !== CHECKPOINT_FORMAT) {
    throw new DistillError(
      `checkpoint ${headerPath}: format "${header?.format}", expected "${CHECKPOINT_FORMAT}"`,
      { code: "unsupported", path: headerPath },
    );
  }
  if (header.version !== CHECKPOINT_VERSION) {
    throw new DistillError(
      `checkpoint ${headerPath}: version ${header.version}, this build reads version ${CHECKPOINT_VERSION}`,
      { code: "unsupported", path: headerPath },
    );
  }
  if (bytes.length !== header.dataBytes) {
    throw new DistillError(
      `checkpoint ${dataPath}: ${bytes.length} bytes of data, the header expects ${header.dataBytes}`,
      { code: "corrupt", path: dataPath },
    );
  }
  if ((await sha256Hex(bytes)) !== header.dataHash) {
    throw new DistillError(
      `checkpoint ${dataPath}: hash mismatch (the data is corrupt or from another checkpoint)`,
      { code: "corrupt", path: dataPath },
    );
  }
  const data = new Float32Array(
    bytes.buffer,
    bytes.byteOffset,
    bytes.byteLength / 4,
  );
  const slice = (e: ArrayEntry): Float32Array => {
    if (e.offset < 0 || e.offset + e.length > data.length) {
      throw new DistillError(
        `checkpoint ${headerPath}: an array [${e.offset}, +${e.length}) lies outside the ${data.length} values of its data`,
        { code: "corrupt", path: headerPath },
      );
    }
    return data.slice(e.offset, e.offset + e.length);
  };
  return {
    state: {
      seed: header.seed,
      epoch: header.epoch,
      stepInEpoch: header.stepInEpoch,
      globalStep: header.globalStep,
      epochTotals: header.epochTotals,
      optimizer: {
        step: header.optimizerStep,
        m: header.m.map(slice),
        v: header.v.map(slice),
      },
      weights: header.weights.map((w) => ({
        name: w.name,
        shape: w.shape,
        data: slice(w),
      })),
    },
    extra: header.extra,
  };
}
