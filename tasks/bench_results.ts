/**
 * The fair test of the two-teacher claim on CIFAR-10 with few images per
 * class: per seed, four teachers (CNN, CNN', INN, INN'; no label smoothing),
 * one logit store per teacher over the same stored views, and five students
 * that differ only in which teachers fill their distillation terms, at the
 * same total distillation weight: none, CNN (weight 2), CNN + CNN',
 * CNN + INN, INN + INN'. Every student, the no-teacher one too, trains on
 * the same stored views. Choices are made on a validation split carved from
 * unused training images; the test set is evaluated once per finished
 * model. The table carries a paired t-test over seeds and McNemar's test per
 * seed.
 *
 *   deno task bench:results --budget cpu          # five seeds, about 2.2 h on 2 quiet cores
 *   deno task bench:results --budget tiny         # minutes: proves the harness
 *     [--seeds 0,1,2] [--arms none,cnn-inn] [--split val|test]
 *     [--dim N] [--depth N] [--heads N] [--mlp-dim N] [--epochs N]
 *     [--tau X] [--views V] [--data-path DIR] [--runs-dir DIR]
 *     [--out DIR] [--cache-dir DIR] [--report-only]
 *
 * Resumable across machines: every finished (seed, arm) is one small JSON
 * file under `<out>/seeds/`, committed with the docs; a later invocation
 * skips those and resumes an unfinished arm from its checkpoint under
 * `--runs-dir` when that is still there. The report is rewritten after each
 * arm from whatever has finished.
 *
 * @module
 */
import { parseArgs } from "@std/cli/parse-args";
import { describeBackend, initBackend } from "@vitkd/backend";
import { loadDataset } from "@vitkd/data";
import {
  installInterrupt,
  INTERRUPTED_EXIT_CODE,
  InterruptedError,
  MetricsLog,
  stderrSink,
} from "@vitkd/train";
import { join } from "node:path";
import {
  type Arm,
  ARMS,
  budgetKey,
  FAIR_BUDGETS,
  type FairBudget,
  teacherSpecs,
} from "./results/fair_setup.ts";
import {
  type ArmResult,
  ensureStore,
  ensureTeacher,
  type FairContext,
  runArm,
  seedData,
  type TeacherResult,
  writeJsonAtomic,
} from "./results/fair_runs.ts";
import {
  fairReportJson,
  fairReportMarkdown,
  fairReportSvg,
  type SeedTeachers,
} from "./results/fair_report.ts";

interface Settings {
  budgetName: string;
  budget: FairBudget;
  arms: Arm[];
  useTest: boolean;
  dataPath: string;
  runsDir: string;
  outDir: string;
  cacheDir: string;
  reportOnly: boolean;
  commandLine: string[];
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(2);
}

function parseSettings(args: string[]): Settings {
  const flags = parseArgs(args, {
    string: [
      "budget",
      "seeds",
      "arms",
      "split",
      "dim",
      "depth",
      "heads",
      "mlp-dim",
      "epochs",
      "tau",
      "views",
      "data-path",
      "runs-dir",
      "out",
      "cache-dir",
    ],
    boolean: ["help", "report-only"],
    default: { budget: "cpu", split: "test" },
    unknown: (arg: string) => {
      if (arg.startsWith("-")) fail(`unknown flag ${arg}`);
      return true;
    },
  });
  if (flags.help) {
    console.log(
      "deno task bench:results [--budget tiny|cpu|gpu] [--seeds 0,1,2] [--arms ID,..]\n" +
        "  [--split val|test]   val: evaluate on the validation split only (for choices)\n" +
        "  [--dim N] [--depth N] [--heads N] [--mlp-dim N] [--epochs N] [--tau X] [--views V]\n" +
        "  [--data-path DIR] [--runs-dir DIR] [--out DIR] [--cache-dir DIR]\n" +
        "  [--report-only]      rewrite the report from the finished results\n" +
        `arms: ${ARMS.map((a) => a.id).join(", ")}`,
    );
    Deno.exit(0);
  }
  const budgetName = flags.budget;
  const base = FAIR_BUDGETS[budgetName];
  if (!base) {
    fail(
      `--budget: "${budgetName}" is not one of ${
        Object.keys(FAIR_BUDGETS).join(", ")
      }`,
    );
  }
  const budget = structuredClone(base);
  const positive = (flag: string): number | undefined => {
    const value = flags[flag as "dim"];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      fail(`--${flag}: expected a positive integer, got "${value}"`);
    }
    return n;
  };
  budget.student.dim = positive("dim") ?? budget.student.dim;
  budget.student.depth = positive("depth") ?? budget.student.depth;
  budget.student.numHeads = positive("heads") ?? budget.student.numHeads;
  budget.student.mlpDim = positive("mlp-dim") ?? budget.student.mlpDim;
  budget.epochs = positive("epochs") ?? budget.epochs;
  budget.views = positive("views") ?? budget.views;
  if (flags.tau !== undefined) {
    const tau = Number(flags.tau);
    if (!(tau > 0)) {
      fail(`--tau: expected a positive number, got "${flags.tau}"`);
    }
    budget.tau = tau;
  }
  if (flags.seeds !== undefined) {
    const seeds = String(flags.seeds).split(",").map(Number);
    if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
      fail(
        `--seeds: expected non-negative integers like 0,1,2, got "${flags.seeds}"`,
      );
    }
    budget.seeds = seeds;
  }
  let arms = [...ARMS];
  if (flags.arms !== undefined) {
    const ids = String(flags.arms).split(",").map((s) => s.trim()).filter(
      Boolean,
    );
    const unknown = ids.filter((id) => !ARMS.some((a) => a.id === id));
    if (unknown.length || !ids.length) {
      fail(
        `--arms: unknown ${unknown.join(", ") || "(empty)"}; arms are ${
          ARMS.map((a) => a.id).join(", ")
        }`,
      );
    }
    arms = ARMS.filter((a) => ids.includes(a.id));
  }
  if (flags.split !== "val" && flags.split !== "test") {
    fail(`--split: expected val or test, got "${flags.split}"`);
  }
  const runsDir = flags["runs-dir"] ?? `runs/bench-fair-${budgetName}`;
  return {
    budgetName,
    budget,
    arms,
    useTest: flags.split === "test",
    dataPath: flags["data-path"] ?? "../shared/datasets/cifar10",
    runsDir,
    outDir: flags.out ??
      (budgetName === "tiny"
        ? join(runsDir, "report")
        : `docs/results/${budgetName}`),
    cacheDir: flags["cache-dir"] ?? ".cache/data",
    reportOnly: flags["report-only"],
    // The report quotes the command that makes the whole table: the flags
    // that only choose this invocation's share of the work (or its output
    // folder) are left out of it.
    commandLine: args.filter((a, i) =>
      !/^--(out|seeds|arms|report-only)\b/.test(a) &&
      !["--out", "--seeds", "--arms"].includes(args[i - 1])
    ),
  };
}

function resultPath(s: Settings, seed: number, name: string): string {
  return join(s.outDir, "seeds", `s${seed}-${name}.json`);
}

async function readJsonIfAny<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Every finished result of this budget key under `<out>/seeds/`. */
async function collect(
  s: Settings,
  key: string,
): Promise<{ arms: ArmResult[]; teachers: SeedTeachers[] }> {
  const arms: ArmResult[] = [];
  const teachers: SeedTeachers[] = [];
  const dir = join(s.outDir, "seeds");
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const value = JSON.parse(await Deno.readTextFile(join(dir, e.name)));
    if (value.format === "vitkd-fair-arm" && value.key === key) {
      arms.push(value);
    }
    if (value.format === "vitkd-fair-teachers") teachers.push(value);
  }
  return { arms, teachers };
}

async function writeReport(
  s: Settings,
  key: string,
  started: number,
): Promise<void> {
  const { arms, teachers } = await collect(s, key);
  const input = {
    budgetName: s.budgetName,
    budget: s.budget,
    key,
    arms,
    teachers,
    command: `deno task bench:results ${
      s.commandLine.join(" ") || `--budget ${s.budgetName}`
    }`,
    invocationSeconds: (performance.now() - started) / 1000,
  };
  await Deno.mkdir(s.outDir, { recursive: true });
  await Deno.writeTextFile(
    join(s.outDir, "results.md"),
    fairReportMarkdown(input),
  );
  await Deno.writeTextFile(join(s.outDir, "results.svg"), fairReportSvg(input));
  await writeJsonAtomic(join(s.outDir, "results.json"), fairReportJson(input));
}

async function main(args: string[]): Promise<void> {
  const s = parseSettings(args);
  const key = budgetKey(s.budget);
  const started = performance.now();
  if (s.reportOnly) {
    await writeReport(s, key, started);
    console.error(`wrote ${s.outDir}/results.{md,svg,json}`);
    return;
  }
  if (!(await Deno.stat(s.dataPath).catch(() => null))) {
    fail(`--data-path: ${s.dataPath} does not exist`);
  }
  const log = (m: string) =>
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
  let current = "";
  const useBackend = async (role: "teachers" | "students") => {
    const want = role === "teachers"
      ? s.budget.teacherBackend
      : s.budget.backend;
    if (current === want) return;
    const info = await initBackend({ backend: want as "auto" });
    log(`backend for the ${role}: ${describeBackend(info)}`);
    current = want;
  };
  await useBackend("teachers");
  const spec = {
    kind: "cifar10-folder" as const,
    path: s.dataPath,
    cacheDir: s.cacheDir,
  };
  const fullTrain = await loadDataset(spec, "train");
  const fullTest = await loadDataset(spec, "test");
  const interrupt = installInterrupt(log);
  const specs = teacherSpecs(s.budget);
  await Deno.mkdir(join(s.outDir, "seeds"), { recursive: true });
  try {
    for (const seed of s.budget.seeds) {
      const pending: Arm[] = [];
      for (const arm of s.arms) {
        const done = await readJsonIfAny<ArmResult>(
          resultPath(s, seed, arm.id),
        );
        if (
          done && done.key === key && (done.testAccuracy !== null || !s.useTest)
        ) {
          continue;
        }
        pending.push(arm);
      }
      if (pending.length === 0) {
        log(`seed ${seed}: every arm finished, skipped`);
        continue;
      }
      const seedDir = join(s.runsDir, `s${seed}`);
      await Deno.mkdir(seedDir, { recursive: true });
      const metrics = MetricsLog.open(join(seedDir, "metrics.jsonl"));
      const ctx: FairContext = {
        budget: s.budget,
        key,
        seedDir,
        seed,
        data: seedData(s.budget, seed, fullTrain, fullTest),
        useTest: s.useTest,
        interrupt,
        metrics,
        sink: stderrSink(),
        log,
        useBackend,
      };
      try {
        const needed = specs.filter((t) =>
          pending.some((a) => a.teachers.includes(t.id))
        );
        const teachers: TeacherResult[] = [];
        const stores = new Map<string, string>();
        for (const t of needed) {
          teachers.push(await ensureTeacher(ctx, t));
          stores.set(t.id, await ensureStore(ctx, t));
        }
        if (needed.length) {
          const path = resultPath(s, seed, "teachers");
          const previous = await readJsonIfAny<SeedTeachers>(path);
          const merged = new Map(
            (previous?.teachers ?? []).map((t) => [t.id, t]),
          );
          for (const t of teachers) merged.set(t.id, t);
          await writeJsonAtomic(
            path,
            {
              format: "vitkd-fair-teachers",
              seed,
              teacherEpochs: s.budget.teacherEpochs,
              teachers: specs.flatMap((t) => merged.get(t.id) ?? []),
            } satisfies SeedTeachers,
          );
        }
        for (const arm of pending) {
          const result = await runArm(
            ctx,
            s.budgetName,
            arm,
            teachers,
            arm.teachers.map((id) => stores.get(id)!),
          );
          await writeJsonAtomic(resultPath(s, seed, arm.id), result);
          log(
            `seed ${seed}: ${arm.id} val ${
              (100 * result.valAccuracy).toFixed(2)
            } %${
              result.testAccuracy === null
                ? ""
                : `, test ${(100 * result.testAccuracy).toFixed(2)} %`
            } (${result.trainSeconds.toFixed(0)} s)`,
          );
          await writeReport(s, key, started);
        }
      } finally {
        metrics.close();
      }
    }
  } finally {
    interrupt.dispose();
  }
  await writeReport(s, key, started);
  console.log(await Deno.readTextFile(join(s.outDir, "results.md")));
  console.error(`wrote ${s.outDir}/results.{md,svg,json}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    if (error instanceof InterruptedError) {
      // the arm in progress wrote a checkpoint; finished arms are on disk
      console.error(
        "bench:results: interrupted; run the same command again to resume",
      );
      Deno.exit(INTERRUPTED_EXIT_CODE);
    }
    console.error(
      `bench:results: ${error instanceof Error ? error.stack : error}`,
    );
    Deno.exit(1);
  }
}
