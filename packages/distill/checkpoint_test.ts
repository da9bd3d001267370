import { assertEquals, assertRejects } from "@std/assert";
import {
  CHECKPOINT_FILE,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
import { DistillError, type DistillErrorCode } from "./errors.ts";
import type { TrainerState } from "./loop.ts";

/** Asserts that loading `dir` fails with a DistillError of `code` whose message includes `message`. */
async function refused(
  dir: string,
  code: DistillErrorCode,
  message: string,
): Promise<void> {
  const error = await assertRejects(
    () => loadCheckpoint(dir),
    DistillError,
    message,
  );
  assertEquals(error.code, code, error.message);
}

function state(epoch: number, fill: number): TrainerState {
  return {
    seed: 5,
    epoch,
    stepInEpoch: 2,
    globalStep: 10 * epoch + 2,
    epochTotals: { lossSum: 1.5, correct: 3, images: 8 },
    optimizer: {
      step: 10 * epoch + 2,
      m: [new Float32Array(6).fill(fill / 10)],
      v: [new Float32Array(6).fill(fill / 100)],
    },
    weights: [{
      name: "dense/kernel",
      shape: [2, 3],
      data: new Float32Array(6).fill(fill),
    }],
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "distill_ckpt_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a checkpoint is one file, replaced whole by the next", async () => {
  await withDir(async (dir) => {
    assertEquals(await hasCheckpoint(dir), false);
    await saveCheckpoint(dir, state(1, 1), { job: "a" });
    await saveCheckpoint(dir, state(2, 2), { job: "a" });
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
      CHECKPOINT_FILE,
    ]);
    const loaded = await loadCheckpoint(dir);
    assertEquals(loaded.state, state(2, 2));
    assertEquals(loaded.extra, { job: "a" });
  });
});

Deno.test("a crash while writing leaves the previous checkpoint whole", async () => {
  await withDir(async (dir) => {
    await saveCheckpoint(dir, state(1, 1));
    // what a process killed mid-write leaves: a temporary file beside it
    const whole = await Deno.readFile(`${dir}/${CHECKPOINT_FILE}`);
    await Deno.writeFile(
      `${dir}/${CHECKPOINT_FILE}.tmp-99999`,
      whole.subarray(0, whole.length >> 1),
    );
    assertEquals((await loadCheckpoint(dir)).state, state(1, 1));
    // the next save replaces the checkpoint in one step
    await saveCheckpoint(dir, state(2, 2));
    assertEquals((await loadCheckpoint(dir)).state, state(2, 2));
  });
});

Deno.test("corrupt, cut, foreign or other-version checkpoint files are refused by name", async () => {
  await withDir(async (dir) => {
    await refused(dir, "not-found", "not found");
    await saveCheckpoint(dir, state(1, 1));
    const path = `${dir}/${CHECKPOINT_FILE}`;
    const file = await Deno.readFile(path);
    const flipped = file.slice();
    flipped[file.length - 5] ^= 0xff;
    await Deno.writeFile(path, flipped);
    await refused(dir, "corrupt", `checkpoint ${path}: hash mismatch`);
    await Deno.writeFile(path, file.subarray(0, file.length - 4));
    await refused(dir, "corrupt", "bytes of data");
    await Deno.writeFile(path, file.subarray(0, 20));
    await refused(dir, "corrupt", "truncated");
    await Deno.writeFile(path, new TextEncoder().encode("{}"));
    await refused(dir, "corrupt", "magic");
    const length = new DataView(file.buffer).getUint32(8, true);
    const header = JSON.parse(
      new TextDecoder().decode(file.subarray(12, 12 + length)),
    );
    const other = new TextEncoder().encode(
      JSON.stringify({ ...header, version: 99 }),
    );
    const rewritten = new Uint8Array(
      12 + other.length + file.length - 12 - length,
    );
    rewritten.set(file.subarray(0, 8));
    new DataView(rewritten.buffer).setUint32(8, other.length, true);
    rewritten.set(other, 12);
    rewritten.set(file.subarray(12 + length), 12 + other.length);
    await Deno.writeFile(path, rewritten);
    await refused(dir, "unsupported", "version 99");
  });
});

Deno.test("a header and data pair of an earlier build still loads; a mixed pair is refused", async () => {
  await withDir(async (dir) => {
    await saveCheckpoint(dir, state(1, 1));
    const file = await Deno.readFile(`${dir}/${CHECKPOINT_FILE}`);
    const length = new DataView(file.buffer).getUint32(8, true);
    await Deno.writeFile(
      `${dir}/trainer_state.json`,
      file.subarray(12, 12 + length),
    );
    await Deno.writeFile(
      `${dir}/trainer_state.bin`,
      file.subarray(12 + length),
    );
    await Deno.remove(`${dir}/${CHECKPOINT_FILE}`);
    assertEquals(await hasCheckpoint(dir), true);
    assertEquals((await loadCheckpoint(dir)).state, state(1, 1));
    const data = file.slice(12 + length);
    data[0] ^= 1;
    await Deno.writeFile(`${dir}/trainer_state.bin`, data);
    await assertRejects(() => loadCheckpoint(dir), Error, "hash mismatch");
    // saving replaces the pair with one file
    await saveCheckpoint(dir, state(2, 2));
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
      CHECKPOINT_FILE,
    ]);
  });
});
