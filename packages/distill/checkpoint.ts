import type { TrainerState } from "./loop.ts";

/** Format id written into every checkpoint header. */
export const CHECKPOINT_FORMAT = "vitkd-trainer-state";
/** Version of the checkpoint format this package writes and reads. */
export const CHECKPOINT_VERSION = 1;

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
}

/**
 * Writes `state` into `dir` (created if needed) as `trainer_state.json` +
 * `trainer_state.bin`, each written to a temporary file, synced and renamed,
 * the data first: a crash leaves the previous checkpoint or the new one. The
 * header records the data's size and hash, so a mixed pair is detected.
 * `extra` is any JSON the caller wants back on load (e.g. run config).
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
  await Deno.mkdir(dir, { recursive: true });
  await writeAtomic(`${dir}/${DATA_FILE}`, bytes);
  await writeAtomic(
    `${dir}/${HEADER_FILE}`,
    new TextEncoder().encode(JSON.stringify(header, null, 1)),
  );
}

/** A checkpoint read back by {@linkcode loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The trainer state, for `Trainer.setState`. */
  state: TrainerState;
  /** The `extra` JSON given to `saveCheckpoint`. */
  extra?: unknown;
}

/** Whether `dir` holds a checkpoint header. */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dir}/${HEADER_FILE}`)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Reads a checkpoint written by {@linkcode saveCheckpoint}; a missing file,
 * another format or version, or data that does not match the header's size
 * or hash fails with an error naming the file and the problem.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const headerPath = `${dir}/${HEADER_FILE}`;
  const dataPath = `${dir}/${DATA_FILE}`;
  let header: CheckpointHeader;
  try {
    header = JSON.parse(await Deno.readTextFile(headerPath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`checkpoint ${headerPath}: not found`);
    }
    throw new Error(
      `checkpoint ${headerPath}: unreadable (${(error as Error).message})`,
    );
  }
  if (header.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `checkpoint ${headerPath}: format "${header.format}", expected "${CHECKPOINT_FORMAT}"`,
    );
  }
  if (header.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `checkpoint ${headerPath}: version ${header.version}, this build reads version ${CHECKPOINT_VERSION}`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(dataPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`checkpoint ${dataPath}: not found`);
    }
    throw error;
  }
  if (bytes.length !== header.dataBytes) {
    throw new Error(
      `checkpoint ${dataPath}: ${bytes.length} bytes, the header expects ${header.dataBytes}`,
    );
  }
  if ((await sha256Hex(bytes)) !== header.dataHash) {
    throw new Error(
      `checkpoint ${dataPath}: hash mismatch (the data file is corrupt or from another checkpoint)`,
    );
  }
  const data = new Float32Array(
    bytes.buffer,
    bytes.byteOffset,
    bytes.byteLength / 4,
  );
  const slice = (e: ArrayEntry): Float32Array => {
    if (e.offset < 0 || e.offset + e.length > data.length) {
      throw new Error(
        `checkpoint ${headerPath}: an array [${e.offset}, +${e.length}) lies outside the ${data.length} values of ${DATA_FILE}`,
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
