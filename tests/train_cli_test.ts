// End-to-end tests of `deno task train`: the CLI runs in a subprocess with
// the permissions of the task, on a tiny MNIST subset and tiny models.
import { assert, assertEquals, assertGreater } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "@vitkd/backend";
import { loadModel } from "@vitkd/models";
import { evaluateModel } from "../apps/train/training.ts";
import { loadRunData } from "../apps/train/run_data.ts";
import {
  exists,
  loadRunState,
  type RunState,
} from "../apps/train/run_folder.ts";
import { readMetrics } from "../apps/train/metrics_log.ts";
import { type DenoRun, ROOT, runDeno } from "./_deno_run.ts";

const MAIN = `${ROOT}apps/train/main.ts`;
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

function runCli(args: string[]): Promise<DenoRun> {
  return runDeno(["run", ...PERMISSIONS, MAIN, ...args]);
}

// The backend of every run here (VITKD_TEST_BACKEND=cpu for the cpu one).
const BACKEND = (Deno.env.get("VITKD_TEST_BACKEND") ?? "wasm") as
  | "cpu"
  | "wasm";
const runsDir = await Deno.makeTempDir({ prefix: "vitkd-train-test-" });

/** A tiny run: 50 training images, 5 steps per epoch, tiny models. */
const TINY_SIZES = [
  "--per-class",
  "5",
  "--test-per-class",
  "3",
  "--teacher-epochs",
  "1",
  "--teacher-batch-size",
  "10",
  "--batch-size",
  "10",
  "--dim",
  "16",
  "--depth",
  "1",
  "--heads",
  "2",
  "--mlp-dim",
  "32",
  "--views",
  "2",
  "--backend",
  BACKEND,
  "--runs-dir",
  runsDir,
];
const TINY = [...TINY_SIZES, "--epochs", "2"];

Deno.test("usage errors exit 2 before any work and name the problem", async () => {
  const cases: [string[], string][] = [
    [["--epochs", "zero"], '--epochs: expected a whole number, got "zero"'],
    [["--bogus"], "unknown flag --bogus"],
    [["--teachers", "resnet8,nonet"], 'unknown teacher "nonet"'],
    [
      ["--dataset", "image-folder", "--data-path", `${runsDir}/missing`],
      "does not exist",
    ],
    [["distill", "--name", "never-made", "--resume"], "not a run folder"],
  ];
  for (const [args, message] of cases) {
    const result = await runCli([...args, "--runs-dir", runsDir]);
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert(
      result.stderr.includes(message),
      `${args.join(" ")}: ${result.stderr}`,
    );
  }
  const entries = [...Deno.readDirSync(runsDir)];
  assertEquals(entries, [], "a usage error must not create a run folder");
  const help = await runCli(["precompute", "--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("--shard I/N"));
});

let completeRun: RunState | undefined;

Deno.test("a tiny run produces the run folder, the report and the store", async () => {
  const result = await runCli([...TINY, "--name", "full"]);
  assertEquals(result.code, 0, result.stderr);
  const root = `${runsDir}/full`;
  const state = await loadRunState(root);
  assert(state.complete);
  assert(typeof state.finishedAt === "string");
  for (const stage of ["teachers", "precompute", "distill", "eval"] as const) {
    assertEquals(state.stages[stage].status, "done");
  }
  for (
    const file of [
      "metrics.jsonl",
      "report.md",
      "curves.svg",
      "logits.vkl",
      "teachers/resnet8/weights.bin",
      "teachers/rednet8/meta.json",
      "student/model.json",
      "baseline/weights.bin",
    ]
  ) {
    assert((await Deno.stat(`${root}/${file}`)).isFile, file);
  }
  assertEquals(state.results.teachers.map((t) => t.name), [
    "resnet8",
    "rednet8",
  ]);
  assertEquals(state.results.student?.headNames, ["cls", "resnet8", "rednet8"]);
  assertEquals(state.results.student?.headAccuracies?.length, 3);
  assert(state.results.baseline !== undefined);
  const report = await Deno.readTextFile(`${root}/report.md`);
  assert(report.includes("| teacher | resnet8 |"), report);
  assert(report.includes("| student | student |"), report);
  assert(result.stdout.includes("no teachers"), result.stdout);
  const svg = await Deno.readTextFile(`${root}/curves.svg`);
  assert(svg.includes("teacher rednet8") && svg.includes("<path "));
  const { records } = await readMetrics(`${root}/metrics.jsonl`);
  const epochs = records.filter((r) => r.event === "epoch");
  assertEquals(epochs.length, 1 + 1 + 2 + 2);
  for (const r of epochs) assertEquals(r.tensors, 0, `tensor leak in ${r.job}`);
  const verify = await runCli([
    "verify",
    "--name",
    "full",
    "--runs-dir",
    runsDir,
  ]);
  assertEquals(verify.code, 0, verify.stderr);
  assert(verify.stdout.startsWith("ok "));
  const inspect = await runCli([
    "inspect",
    "--name",
    "full",
    "--runs-dir",
    runsDir,
  ]);
  assertEquals(inspect.code, 0, inspect.stderr);
  assert(
    inspect.stdout.includes("resnet8") && inspect.stdout.includes("rednet8"),
  );
  completeRun = state;
});

Deno.test("the saved student reloads and evaluates to the reported accuracy", async () => {
  const run = completeRun;
  if (!run) throw new Error("needs the tiny run");
  await initBackend({ backend: BACKEND });
  const data = await loadRunData(run.config, ".cache/data");
  const before = tf.memory().numTensors;
  const { model, meta } = await loadModel(`${runsDir}/full/student`);
  const result = await evaluateModel(
    model,
    data.test,
    meta.input.normalization,
    {
      sink: { write: () => {}, isTerminal: false },
    },
  );
  model.dispose();
  assertEquals(tf.memory().numTensors, before);
  assertEquals(result.count, 30);
  assertEquals(result.averaged, run.results.student!.accuracy);
  assertEquals(result.heads, run.results.student!.headAccuracies);
  assertEquals(
    meta.metrics.testAccuracy,
    run.results.student!.accuracy,
  );
});

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

Deno.test("an interrupted and resumed run ends with the same weights", async () => {
  const run = completeRun;
  if (!run) throw new Error("needs the tiny run");
  const root = `${runsDir}/resumed`;
  // 5 steps per teacher epoch: step 7 stops the second teacher mid-epoch.
  const first = await runCli([
    ...TINY,
    "--name",
    "resumed",
    "--stop-after-steps",
    "7",
  ]);
  assertEquals(first.code, 130, first.stderr);
  let state = await loadRunState(root);
  assertEquals(state.stages.teachers.status, "interrupted");
  assertEquals(state.complete, false);
  assert(
    (await Deno.stat(`${root}/checkpoints/teacher-rednet8/trainer_state.ckpt`))
      .isFile,
  );
  assert((await Deno.stat(`${root}/teachers/resnet8/meta.json`)).isFile);
  // 3 more teacher steps, precompute, then the student stops in its second epoch.
  const second = await runCli([
    "--resume",
    "--name",
    "resumed",
    "--runs-dir",
    runsDir,
    "--stop-after-steps",
    "11",
  ]);
  assertEquals(second.code, 130, second.stderr);
  state = await loadRunState(root);
  assertEquals(state.stages.teachers.status, "done");
  assertEquals(state.stages.precompute.status, "done");
  assertEquals(state.stages.distill.status, "interrupted");
  assert(
    (await Deno.stat(`${root}/checkpoints/student/trainer_state.ckpt`)).isFile,
  );
  const third = await runCli(["--resume", "--runs-dir", runsDir]);
  assertEquals(third.code, 0, third.stderr);
  state = await loadRunState(root);
  assert(state.complete);
  for (
    const file of [
      "teachers/resnet8/weights.bin",
      "teachers/rednet8/weights.bin",
      "logits.vkl",
      "student/weights.bin",
      "baseline/weights.bin",
    ]
  ) {
    assert(
      await sameBytes(`${root}/${file}`, `${runsDir}/full/${file}`),
      `${file} differs`,
    );
  }
  assertEquals(
    state.results.student?.accuracy,
    run.results.student?.accuracy,
  );
  const again = await runCli([...TINY, "--name", "resumed"]);
  assertEquals(
    again.code,
    2,
    "re-running an existing run without --resume/--force",
  );
  assert(again.stderr.includes("--resume"));
});

Deno.test("Ctrl-C writes a checkpoint and exits 130", async () => {
  const root = `${runsDir}/sigint`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSIONS,
      MAIN,
      ...TINY_SIZES,
      "--loss",
      "none",
      "--epochs",
      "200",
      "--name",
      "sigint",
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Wait for the first finished epoch, so the signal lands inside training.
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const { records } = await readMetrics(`${root}/metrics.jsonl`);
    if (records.some((r) => r.event === "epoch")) break;
  }
  child.kill("SIGINT");
  const status = await child.status;
  assertEquals(status.code, 130);
  const state = await loadRunState(root);
  assertEquals(state.stages.teachers.status, "skipped");
  assertEquals(state.stages.distill.status, "interrupted");
  const { records } = await readMetrics(`${root}/metrics.jsonl`);
  const checkpoint = records.find((r) => r.event === "checkpoint");
  if (!checkpoint) throw new Error("no checkpoint record in metrics.jsonl");
  assertEquals(checkpoint.job, "student");
  assertGreater(Number(checkpoint.epoch) + Number(checkpoint.step), 0);
  assert(
    (await Deno.stat(`${root}/checkpoints/student/trainer_state.ckpt`)).isFile,
  );
});

Deno.test("SIGKILL at several points of training and precompute, then --resume: byte-identical weights and store", async () => {
  // Its own settings (two teacher epochs, three student epochs) so that each
  // stage has a checkpoint to be killed after; an uninterrupted reference.
  const sizes = [
    ...TINY_SIZES.map((v, i) =>
      TINY_SIZES[i - 1] === "--teacher-epochs" ? "2" : v
    ),
    "--epochs",
    "3",
  ];
  const reference = await runCli([...sizes, "--name", "kill-ref"]);
  assertEquals(reference.code, 0, reference.stderr);
  const root = `${runsDir}/killed`;
  const records = async () =>
    (await readMetrics(`${root}/metrics.jsonl`).catch(() => ({
      records: [],
    }))).records;
  // An "epoch" record is written just before the epoch's checkpoint: a kill
  // then lands before, during or after the checkpoint write.
  const epochOf = (prefix: string) => async (seen: number) =>
    (await records()).slice(seen).some((r) =>
      r.event === "epoch" && String(r.job).startsWith(prefix)
    );
  const points: [string, (seen: number) => Promise<boolean>][] = [
    ["after a teacher epoch", epochOf("teacher-")],
    [
      "during precompute",
      async () =>
        await exists(`${root}/logits.vkl.journal`) ||
        await exists(`${root}/logits.vkl.partial`),
    ],
    ["after a student epoch", epochOf("student")],
    ["after a baseline epoch", epochOf("baseline")],
  ];
  const killed: string[] = [];
  for (const [i, [point, reached]] of points.entries()) {
    const seen = (await records()).length;
    // The first start creates the run; every later one resumes it, without
    // --backend: the run keeps the backend it ran on.
    const args = i === 0
      ? [...sizes, "--name", "killed"]
      : ["--resume", "--name", "killed", "--runs-dir", runsDir];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, ...args],
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    child.status.then(() => exited = true);
    while (!exited && !(await reached(seen))) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!exited) {
      child.kill("SIGKILL");
      killed.push(point);
    }
    const status = await child.status;
    if (status.success) break; // the run finished before this point
  }
  assertGreater(killed.length, 1, `killed only ${killed.join(", ")}`);
  const last = await runCli([
    "--resume",
    "--name",
    "killed",
    "--runs-dir",
    runsDir,
  ]);
  assertEquals(last.code, 0, last.stderr);
  const state = await loadRunState(root);
  assert(state.complete);
  assert(state.backend?.startsWith(BACKEND), state.backend);
  for (
    const file of [
      "teachers/resnet8/weights.bin",
      "teachers/rednet8/weights.bin",
      "logits.vkl",
      "student/weights.bin",
      "baseline/weights.bin",
    ]
  ) {
    assert(
      await sameBytes(`${root}/${file}`, `${runsDir}/kill-ref/${file}`),
      `${file} differs after SIGKILL ${killed.join(", ")}`,
    );
  }
  console.log(`  killed ${killed.join("; ")}`);
});

Deno.test("--resume without --backend keeps the run's backend; another one is refused", async () => {
  const other = BACKEND === "cpu" ? "wasm" : "cpu";
  const sizes = TINY_SIZES.map((v, i) =>
    TINY_SIZES[i - 1] === "--backend" ? other : v
  );
  const first = await runCli([
    ...sizes,
    "--loss",
    "none",
    "--epochs",
    "1",
    "--name",
    "backend-kept",
    "--stop-after-steps",
    "2",
  ]);
  assertEquals(first.code, 130, first.stderr);
  const resumeArgs = [
    "--resume",
    "--name",
    "backend-kept",
    "--runs-dir",
    runsDir,
  ];
  const refused = await runCli([...resumeArgs, "--backend", BACKEND]);
  assertEquals(refused.code, 2, refused.stderr);
  assert(
    refused.stderr.includes(`ran on the ${other} backend`),
    refused.stderr,
  );
  const second = await runCli(resumeArgs);
  assertEquals(second.code, 0, second.stderr);
  const { records } = await readMetrics(
    `${runsDir}/backend-kept/metrics.jsonl`,
  );
  const backends = records.filter((r) => r.event === "start").map((r) =>
    String(r.backend).split(/[ ,]/)[0]
  );
  assertEquals(backends, [other, other]);
});

Deno.test({
  name: "clean up the test runs",
  fn: async () => {
    await Deno.remove(runsDir, { recursive: true });
  },
});
