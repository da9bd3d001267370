/**
 * The headline results: on CIFAR-10 with few training images per class,
 * the CNN and INN teachers (and their averaged ensemble), then the same ViT
 * student under the same budget without distillation, with each teacher
 * alone, with both (one token each: the method), with the averaged ensemble
 * and with hard instead of soft two-token distillation. Writes a markdown
 * table, an SVG plot and the raw figures.
 *
 *   deno task bench:results --budget tiny   # minutes: proves the harness
 *   deno task bench:results --budget cpu    # 2 CPU cores, about an hour
 *   deno task bench:results --budget gpu    # WebGPU, several seeds
 *     [--data-path DIR] [--per-class N] [--test-per-class N|all]
 *     [--teacher-epochs N] [--epochs N] [--seeds 0,1,2] [--backend B]
 *     [--teacher-backend B]
 *     [--runs-dir DIR] [--out DIR] [--cache-dir DIR]
 *
 * Drives the train app in-process (`main(args)` of `@vitkd/train`), one run
 * folder per seed and variant under `--runs-dir`. Teachers train once per
 * seed and their logits are stored once; the two-teacher variants copy that
 * store, the single-teacher variants get a store of their teacher's logits
 * (precomputed from the same saved teacher). A complete run is skipped, an
 * unfinished one resumed, so the command can be stopped and started again.
 *
 * @module
 */
import { parseArgs } from "@std/cli/parse-args";
import * as tf from "@tensorflow/tfjs";
import { iterateBatches } from "@vitkd/data";
import { loadModel } from "@vitkd/models";
import {
  loadRunData,
  loadRunState,
  main as train,
  newRunState,
  parseCommandLine,
  type RunState,
  saveRunState,
} from "@vitkd/train";
import { join } from "node:path";
import {
  comparisonTable,
  formatAccuracy,
  formatBytes,
  formatSeconds,
  type ResultRow,
  resultsSvg,
  resultsTable,
  spreadOf,
} from "./results/stats.ts";

/** A named set of sizes. */
interface Budget {
  perClass: number;
  testPerClass: number | "all";
  teacherEpochs: number;
  teacherBatchSize: number;
  student: string;
  studentOptions: Record<string, number>;
  epochs: number;
  batchSize: number;
  learningRate: number;
  warmup: number;
  labelSmoothing: number;
  views: number;
  seeds: number[];
  backend: string;
  /**
   * Backend of the teachers' training and logit precompute, when not
   * `backend`: tfjs-webgpu trains the small conv nets slowly (resnet8 32
   * img/s on an H100 against about 480 on 2 CPU cores with wasm), so the
   * gpu budget trains them on the CPU and the students on the GPU.
   */
  teacherBackend?: string;
  needs: string;
}

const BUDGETS: Record<string, Budget> = {
  tiny: {
    perClass: 20,
    testPerClass: 20,
    teacherEpochs: 1,
    teacherBatchSize: 50,
    student: "vit-tiny",
    studentOptions: { patch: 8, dim: 32, depth: 1, heads: 2, "mlp-dim": 64 },
    epochs: 2,
    batchSize: 50,
    learningRate: 1e-3,
    warmup: 1,
    labelSmoothing: 0,
    views: 2,
    seeds: [0],
    backend: "auto",
    needs: "a few minutes on 2 CPU cores (most of it decoding CIFAR-10 once)",
  },
  cpu: {
    perClass: 500,
    testPerClass: "all",
    // Sized from measured runs on the 2-core machine (wasm + OpenBLAS): one
    // seed (two teachers, their store, six students, ten thousand test
    // images each) took 20 min, so three seeds fit about an hour.
    teacherEpochs: 10,
    teacherBatchSize: 64,
    student: "vit-tiny",
    studentOptions: { patch: 4, dim: 48, depth: 2, heads: 3, "mlp-dim": 96 },
    epochs: 20,
    batchSize: 64,
    learningRate: 1e-3,
    warmup: 2,
    labelSmoothing: 0.1,
    views: 4,
    seeds: [0, 1, 2],
    backend: "auto",
    needs:
      "2 CPU cores (wasm backend, OpenBLAS when installed), about an hour: 20 min per seed, three seeds; `--ablations` adds six students per seed (about 15 min)",
  },
  gpu: {
    perClass: 500,
    testPerClass: "all",
    teacherEpochs: 30,
    teacherBatchSize: 64,
    student: "vit-small",
    studentOptions: { patch: 4 },
    epochs: 100,
    batchSize: 64,
    learningRate: 5e-4,
    warmup: 5,
    labelSmoothing: 0.1,
    views: 8,
    seeds: [0, 1, 2],
    backend: "webgpu",
    teacherBackend: "wasm",
    needs:
      "a GPU that Deno's WebGPU can use for the students, the CPU (wasm) for the teachers; estimated from measured throughput (H100: vit-small 269 train img/s; 2 CPU cores: resnet8 ~480, rednet8 ~330 img/s) at about 3.5 h per seed (teachers ~15 min, six students ~3 h), three seeds",
  },
};

const CNN = "resnet8";
const INN = "rednet8";

/** One student variant: how it is trained and where its teachers come from. */
interface Variant {
  id: string;
  label: string;
  loss: "none" | "multi" | "ensemble" | "hard";
  teachers: string[];
  /** Train-app flags beyond the budget's (the investigation's changes). */
  args?: string[];
}

const VARIANTS: Variant[] = [
  { id: "none", label: "student, no distillation", loss: "none", teachers: [] },
  {
    id: "cnn",
    label: "student, CNN teacher only (1 token)",
    loss: "multi",
    teachers: [CNN],
  },
  {
    id: "inn",
    label: "student, INN teacher only (1 token)",
    loss: "multi",
    teachers: [INN],
  },
  {
    id: "both",
    label: "student, CNN + INN (2 tokens, soft)",
    loss: "multi",
    teachers: [CNN, INN],
  },
  {
    id: "ensemble",
    label: "student, averaged ensemble (1 token)",
    loss: "ensemble",
    teachers: [CNN, INN],
  },
  {
    id: "hard",
    label: "student, CNN + INN (2 tokens, hard)",
    loss: "hard",
    teachers: [CNN, INN],
  },
];

/**
 * The investigation (`--ablations`): the two-token student with one change
 * each, to see what moves it against the single-teacher students. With equal
 * weights the two-token loss puts twice the single-teacher distillation
 * weight on the teachers; `both-half` gives it the same total; `tau4` softens
 * the targets so more of each teacher's ranking of the wrong classes, where
 * the two teachers differ, reaches the student; `cnn-w2` and `ensemble-w2`
 * give one token the two-token student's total distillation weight, which
 * separates "two teachers" from "twice the weight".
 */
const ABLATIONS: Variant[] = [
  {
    id: "both-half",
    label: "student, CNN + INN, weights 1, ½, ½",
    loss: "multi",
    teachers: [CNN, INN],
    args: ["--weights", "1,0.5,0.5"],
  },
  {
    id: "both-tau4",
    label: "student, CNN + INN, tau 4",
    loss: "multi",
    teachers: [CNN, INN],
    args: ["--tau", "4"],
  },
  {
    id: "cnn-tau4",
    label: "student, CNN teacher only, tau 4",
    loss: "multi",
    teachers: [CNN],
    args: ["--tau", "4"],
  },
  {
    id: "cnn-w2",
    label: "student, CNN teacher only, weights 1, 2",
    loss: "multi",
    teachers: [CNN],
    args: ["--weights", "1,2"],
  },
  {
    id: "ensemble-w2",
    label: "student, averaged ensemble, weights 1, 2",
    loss: "ensemble",
    teachers: [CNN, INN],
    args: ["--weights", "1,2"],
  },
  {
    id: "ensemble-tau4",
    label: "student, averaged ensemble, tau 4",
    loss: "ensemble",
    teachers: [CNN, INN],
    args: ["--tau", "4"],
  },
];

interface Settings {
  budgetName: string;
  budget: Budget;
  dataPath: string;
  runsDir: string;
  cacheDir: string;
  outDir: string;
  ablations: boolean;
  /** The variants to run, in table order (all of the table's by default). */
  variants: Variant[];
  /** The flags this invocation was given, for the report. */
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
      "data-path",
      "per-class",
      "test-per-class",
      "teacher-epochs",
      "epochs",
      "seeds",
      "backend",
      "teacher-backend",
      "variants",
      "runs-dir",
      "out",
      "cache-dir",
    ],
    boolean: ["help", "ablations"],
    default: { budget: "cpu" },
    unknown: (arg: string) => {
      if (arg.startsWith("-")) fail(`unknown flag ${arg}`);
      return true;
    },
  });
  if (flags.help) {
    console.log(
      "deno task bench:results [--budget tiny|cpu|gpu] [--data-path DIR] [--per-class N]\n" +
        "  [--test-per-class N|all] [--teacher-epochs N] [--epochs N]\n" +
        "  [--seeds 0,1,2] [--backend auto|webgpu|wasm|cpu] [--teacher-backend B]\n" +
        "  [--runs-dir DIR] [--out DIR] [--cache-dir DIR]\n" +
        "  [--ablations]   also the investigation: halved and doubled distillation weights, tau 4\n" +
        "  [--variants ID,..] only these students (ids: " +
        [...VARIANTS, ...ABLATIONS].map((v) => v.id).join(", ") + ")",
    );
    Deno.exit(0);
  }
  const budgetName = flags.budget;
  const base = BUDGETS[budgetName];
  if (!base) {
    fail(
      `--budget: "${budgetName}" is not one of ${
        Object.keys(BUDGETS).join(", ")
      }`,
    );
  }
  const budget = structuredClone(base);
  if (flags["per-class"] !== undefined) {
    const n = Number(flags["per-class"]);
    if (!Number.isInteger(n) || n < 1) {
      fail(
        `--per-class: expected a positive integer, got "${flags["per-class"]}"`,
      );
    }
    budget.perClass = n;
  }
  const positive = (flag: string): number | undefined => {
    const value = flags[flag as "epochs"];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      fail(`--${flag}: expected a positive integer, got "${value}"`);
    }
    return n;
  };
  budget.teacherEpochs = positive("teacher-epochs") ?? budget.teacherEpochs;
  budget.epochs = positive("epochs") ?? budget.epochs;
  if (flags["test-per-class"] === "all") budget.testPerClass = "all";
  else budget.testPerClass = positive("test-per-class") ?? budget.testPerClass;
  if (flags.seeds !== undefined) {
    const seeds: number[] = String(flags.seeds).split(",").map(Number);
    if (seeds.some((s: number) => !Number.isInteger(s) || s < 0)) {
      fail(
        `--seeds: expected non-negative integers like 0,1,2, got "${flags.seeds}"`,
      );
    }
    budget.seeds = seeds;
  }
  if (flags.backend !== undefined) {
    budget.backend = flags.backend;
    // one backend for everything unless --teacher-backend says otherwise
    budget.teacherBackend = flags.backend;
  }
  if (flags["teacher-backend"] !== undefined) {
    budget.teacherBackend = flags["teacher-backend"];
  }
  const runsDir = flags["runs-dir"] ?? `runs/bench-results-${budgetName}`;
  return {
    budgetName,
    budget,
    dataPath: flags["data-path"] ?? "../shared/datasets/cifar10",
    runsDir,
    cacheDir: flags["cache-dir"] ?? ".cache/data",
    // The tiny budget proves the harness; only real budgets write docs/results.
    outDir: flags.out ??
      (budgetName === "tiny" ? join(runsDir, "report") : "docs/results"),
    ablations: flags.ablations,
    variants: chooseVariants(flags.variants, flags.ablations),
    // the run's own flags, as given (--out only says where this report goes)
    commandLine: args.filter((arg, i) =>
      !arg.startsWith("--out") && args[i - 1] !== "--out"
    ),
  };
}

function chooseVariants(
  list: string | undefined,
  ablations: boolean,
): Variant[] {
  const all = [...VARIANTS, ...ABLATIONS];
  if (list === undefined) return ablations ? all : [...VARIANTS];
  const ids = list.split(",").map((id) => id.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !all.some((v) => v.id === id));
  if (unknown.length > 0 || ids.length === 0) {
    fail(
      `--variants: unknown ${unknown.join(", ") || "(empty list)"}; ids are ${
        all.map((v) => v.id).join(", ")
      }`,
    );
  }
  return all.filter((v) => ids.includes(v.id));
}

/** The train-app flags every run of one seed shares. */
function commonArgs(
  s: Settings,
  seed: number,
  backend: string = s.budget.backend,
): string[] {
  const b = s.budget;
  const args = [
    "--preset",
    "cifar10-lowdata",
    "--dataset",
    "cifar10-folder",
    "--data-path",
    s.dataPath,
    "--per-class",
    String(b.perClass),
    "--test-per-class",
    String(b.testPerClass),
    "--teacher-epochs",
    String(b.teacherEpochs),
    "--teacher-batch-size",
    String(b.teacherBatchSize),
    "--student",
    b.student,
    "--epochs",
    String(b.epochs),
    "--batch-size",
    String(b.batchSize),
    "--lr",
    String(b.learningRate),
    "--warmup",
    String(b.warmup),
    "--label-smoothing",
    String(b.labelSmoothing),
    "--views",
    String(b.views),
    "--encoding",
    "fp32",
    "--no-baseline",
    "--seed",
    String(seed),
    "--backend",
    backend,
    "--runs-dir",
    s.runsDir,
    "--cache-dir",
    s.cacheDir,
  ];
  for (const [flag, value] of Object.entries(b.studentOptions)) {
    args.push(`--${flag}`, String(value));
  }
  return args;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory) await copyTree(src, dst);
    else await Deno.copyFile(src, dst);
  }
}

async function trainOrFail(args: string[]): Promise<void> {
  console.error(`\n$ deno task train ${args.join(" ")}`);
  // The app's per-run report goes to stderr with its log: stdout carries
  // only this benchmark's table.
  const toStderr = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  const code = await train(args, {
    log: (message) => toStderr(message + "\n"),
    out: toStderr,
  });
  if (code !== 0) {
    throw new Error(`deno task train ${args.join(" ")} exited with ${code}`);
  }
}

function teacherRunName(seed: number): string {
  return `s${seed}-teachers`;
}

/** Trains both teachers and stores their logits once for a seed. */
async function teacherRun(s: Settings, seed: number): Promise<RunState> {
  const name = teacherRunName(seed);
  const args = [
    ...commonArgs(s, seed, s.budget.teacherBackend ?? s.budget.backend),
    "--teachers",
    `${CNN},${INN}`,
    "--name",
    name,
  ];
  await trainOrFail(["teachers", ...args]);
  await trainOrFail(["precompute", ...args]);
  return await loadRunState(join(s.runsDir, name));
}

/** Trains one student variant for a seed (or finds it complete). */
async function variantRun(
  s: Settings,
  seed: number,
  variant: Variant,
  teachers: RunState,
): Promise<RunState> {
  const name = `s${seed}-${variant.id}`;
  const root = join(s.runsDir, name);
  const args = [
    ...commonArgs(s, seed),
    "--loss",
    variant.loss,
    ...(variant.args ?? []),
  ];
  if (variant.teachers.length > 0) {
    args.push("--teachers", variant.teachers.join(","));
  }
  args.push("--name", name);
  if (await exists(join(root, "run.json"))) {
    const state = await loadRunState(root);
    if (state.complete) {
      console.error(`run ${name}: complete, skipped`);
      return state;
    }
  } else if (variant.teachers.length > 0) {
    // Seed the run with the seed's trained teachers (the app keeps a saved
    // teacher whose result is recorded) and, when it uses both, with their
    // stored logits (precompute finds the complete store and returns).
    const source = join(s.runsDir, teacherRunName(seed));
    const parsed = parseCommandLine(["run", ...args]);
    const state = newRunState(name, parsed.config);
    state.results.teachers = variant.teachers.map((t) => {
      const found = teachers.results.teachers.find((r) => r.name === t);
      if (!found) throw new Error(`${source}: no result for teacher ${t}`);
      return found;
    });
    await Deno.mkdir(root, { recursive: true });
    for (const t of variant.teachers) {
      await copyTree(join(source, "teachers", t), join(root, "teachers", t));
    }
    if (variant.teachers.length === 2) {
      await Deno.copyFile(join(source, "logits.vkl"), join(root, "logits.vkl"));
    }
    await saveRunState(root, state);
  }
  const resume = await exists(join(root, "run.json"));
  await trainOrFail(resume ? ["run", "--resume", ...args] : ["run", ...args]);
  return await loadRunState(root);
}

/** How the two teachers do on the test set, alone and together. */
interface TeacherAgreement {
  /** Accuracy of their averaged probabilities. */
  ensemble: number;
  /** Fraction of test images both classify correctly. */
  bothRight: number;
  /** Fraction only the CNN classifies correctly. */
  onlyCnn: number;
  /** Fraction only the INN classifies correctly. */
  onlyInn: number;
  /** Fraction neither classifies correctly. */
  neither: number;
  /** Fraction where both predict the same class, right or wrong. */
  sameClass: number;
}

const AGREEMENT_FIELDS: (keyof TeacherAgreement)[] = [
  "ensemble",
  "bothRight",
  "onlyCnn",
  "onlyInn",
  "neither",
  "sameClass",
];

/** The teachers' ensemble accuracy and agreement on the test set (cached per seed). */
async function teacherAgreement(
  s: Settings,
  seed: number,
  teachers: RunState,
): Promise<TeacherAgreement> {
  const root = join(s.runsDir, teacherRunName(seed));
  const cache = join(root, "bench_teachers.json");
  if (await exists(cache)) {
    const cached = JSON.parse(await Deno.readTextFile(cache));
    if (AGREEMENT_FIELDS.every((f) => typeof cached[f] === "number")) {
      return cached;
    }
  }
  const data = await loadRunData(teachers.config, s.cacheDir);
  const models = await Promise.all(
    [CNN, INN].map((t) => loadModel(join(root, "teachers", t))),
  );
  const counts = { ensemble: 0, both: 0, cnn: 0, inn: 0, same: 0 };
  try {
    for await (
      const batch of iterateBatches(data.test, {
        batchSize: 250,
        shuffle: false,
        normalization: models[0].meta.input.normalization,
      })
    ) {
      const [cnnGuess, innGuess, ensembleGuess] = tf.tidy(() => {
        const probabilities = models.map(({ model }) =>
          tf.softmax(model.predict(batch.x) as tf.Tensor2D)
        );
        return [
          probabilities[0].argMax(-1),
          probabilities[1].argMax(-1),
          tf.addN(probabilities).argMax(-1),
        ];
      });
      const labels = await batch.y.data();
      const [cnn, inn, ensemble] = await Promise.all(
        [cnnGuess, innGuess, ensembleGuess].map((t) => t.data()),
      );
      tf.dispose([cnnGuess, innGuess, ensembleGuess]);
      batch.dispose();
      for (let i = 0; i < labels.length; i++) {
        const cnnRight = cnn[i] === labels[i];
        const innRight = inn[i] === labels[i];
        if (ensemble[i] === labels[i]) counts.ensemble++;
        if (cnnRight && innRight) counts.both++;
        else if (cnnRight) counts.cnn++;
        else if (innRight) counts.inn++;
        if (cnn[i] === inn[i]) counts.same++;
      }
    }
  } finally {
    for (const { model } of models) model.dispose();
  }
  const total = data.test.count;
  const agreement: TeacherAgreement = {
    ensemble: counts.ensemble / total,
    bothRight: counts.both / total,
    onlyCnn: counts.cnn / total,
    onlyInn: counts.inn / total,
    neither: (total - counts.both - counts.cnn - counts.inn) / total,
    sameClass: counts.same / total,
  };
  await Deno.writeTextFile(cache, JSON.stringify(agreement) + "\n");
  return agreement;
}

function runSeconds(state: RunState): number {
  return Object.values(state.stages).reduce((a, r) => a + r.seconds, 0);
}

/** Wall seconds of everything a seed ran: its teacher run and every variant. */
function seedSeconds(f: SeedFigures): number {
  return runSeconds(f.teachers) +
    Object.values(f.variants).reduce((a, v) => a + runSeconds(v), 0);
}

interface SeedFigures {
  seed: number;
  teachers: RunState;
  agreement: TeacherAgreement;
  storeBytes: number;
  variants: Record<string, RunState>;
}

function buildRows(figures: SeedFigures[]): ResultRow[] {
  const teacherRow = (name: string, label: string): ResultRow => ({
    id: name,
    label,
    accuracies: figures.map((f) =>
      f.teachers.results.teachers.find((t) => t.name === name)?.accuracy ?? NaN
    ),
    seconds: figures.map((f) =>
      f.teachers.results.teachers.find((t) => t.name === name)
        ?.trainSeconds ?? NaN
    ),
    note: "training time",
  });
  const rows: ResultRow[] = [
    teacherRow(CNN, `CNN teacher (${CNN})`),
    teacherRow(INN, `INN teacher (${INN})`),
    {
      id: "teacher-ensemble",
      label: "teachers' averaged ensemble",
      accuracies: figures.map((f) => f.agreement.ensemble),
      seconds: figures.map((f) => f.teachers.stages.precompute.seconds),
      note: `time: the store's precompute; store ${
        formatBytes(figures[0]?.storeBytes ?? NaN)
      }`,
    },
  ];
  for (const v of VARIANTS) {
    if (ranEverywhere(figures, v)) rows.push(variantRow(figures, v));
  }
  return rows;
}

function ranEverywhere(figures: SeedFigures[], v: Variant): boolean {
  return figures.every((f) => f.variants[v.id] !== undefined);
}

function variantRow(figures: SeedFigures[], v: Variant): ResultRow {
  return {
    id: v.id,
    label: v.label,
    accuracies: figures.map((f) =>
      f.variants[v.id].results.student?.accuracy ?? NaN
    ),
    seconds: figures.map((f) => runSeconds(f.variants[v.id])),
    note: `cls head ${
      formatAccuracy(spreadOf(figures.map((f) =>
        f.variants[v.id].results.student?.headAccuracies?.[0] ?? NaN
      )))
    }; student training ${
      formatSeconds(
        figures.reduce(
          (a, f) => a + (f.variants[v.id].results.student?.trainSeconds ?? 0),
          0,
        ) / figures.length,
      )
    }`,
  };
}

function agreementLines(figures: SeedFigures[]): string[] {
  const pct = (pick: (a: TeacherAgreement) => number) =>
    formatAccuracy(spreadOf(figures.map((f) => pick(f.agreement))));
  return [
    `- both teachers right: ${pct((a) => a.bothRight)}; only the CNN: ${
      pct((a) => a.onlyCnn)
    }; only the INN: ${pct((a) => a.onlyInn)}; neither: ${
      pct((a) => a.neither)
    }`,
    `- same predicted class, right or wrong: ${pct((a) => a.sameClass)}`,
    `- at least one teacher right (an oracle's ceiling for combining them): ${
      pct((a) => a.bothRight + a.onlyCnn + a.onlyInn)
    }`,
  ];
}

function perEpochLines(s: Settings, figures: SeedFigures[]): string[] {
  const b = s.budget;
  const lines: string[] = [];
  const f = figures[0];
  for (const t of f.teachers.results.teachers) {
    lines.push(
      `- teacher ${t.name}: ${
        ((t.trainSeconds ?? NaN) / b.teacherEpochs).toFixed(1)
      } s per epoch (${b.perClass * 10} images)`,
    );
  }
  for (const v of VARIANTS.filter((v) => f.variants[v.id] !== undefined)) {
    const st = f.variants[v.id].results.student;
    lines.push(
      `- ${v.label}: ${
        ((st?.trainSeconds ?? NaN) / b.epochs).toFixed(1)
      } s per epoch; whole run (data, stages, eval) ${
        formatSeconds(runSeconds(f.variants[v.id]))
      }`,
    );
  }
  return lines;
}

function investigationLines(
  figures: SeedFigures[],
  rows: ResultRow[],
  ablationRows: ResultRow[],
): string[] {
  if (ablationRows.length === 0) return [];
  const all = [...rows, ...ablationRows];
  return [
    "## Investigation: what moves the two-token student",
    "",
    "The two-token student against itself with one change, and the single-teacher and ensemble students under the same change (`--ablations`; same seeds, teachers and stored logits).",
    "",
    resultsTable(ablationRows),
    "",
    comparisonTable(all, [
      { a: "both", b: "cnn-w2" },
      { a: "both", b: "ensemble-w2" },
      { a: "cnn-w2", b: "cnn" },
      { a: "ensemble-w2", b: "ensemble" },
      { a: "both-half", b: "both" },
      { a: "both-half", b: "cnn" },
      { a: "both-half", b: "ensemble" },
      { a: "both-tau4", b: "both" },
      { a: "both-tau4", b: "cnn-tau4" },
      { a: "both-tau4", b: "ensemble-tau4" },
      { a: "cnn-tau4", b: "cnn" },
      { a: "ensemble-tau4", b: "ensemble" },
    ]),
    "",
    `Seeds ${figures.map((f) => f.seed).join(", ")}.`,
    "",
  ];
}

function reportMarkdown(
  s: Settings,
  figures: SeedFigures[],
  rows: ResultRow[],
  ablationRows: ResultRow[],
  totalSeconds: number,
): string {
  const b = s.budget;
  const f0 = figures[0];
  const comparisons = [
    ...["cnn", "inn", "both", "ensemble", "hard"].map((a) => ({
      a,
      b: "none",
    })),
    { a: "both", b: "cnn" },
    { a: "both", b: "inn" },
    { a: "both", b: "ensemble" },
    { a: "both", b: "hard" },
  ];
  return [
    `# Headline results (budget \`${s.budgetName}\`)`,
    "",
    `CIFAR-10 image folder \`${s.dataPath}\`, ${b.perClass} training images per class (${
      f0.teachers.data?.train ?? "?"
    } images), ${f0.teachers.data?.test ?? "?"} test images; seeds ${
      figures.map((f) => f.seed).join(", ")
    }; backend ${f0.teachers.backend ?? "?"}${
      f0.variants.none?.backend &&
        f0.variants.none.backend !== f0.teachers.backend
        ? ` (teachers), ${f0.variants.none.backend} (students)`
        : ""
    }.`,
    `Teachers ${CNN} (CNN) and ${INN} (INN), ${b.teacherEpochs} epochs; student ${b.student} ${
      JSON.stringify(b.studentOptions)
    }, ${b.epochs} epochs, batch ${b.batchSize}, lr ${b.learningRate}, ${b.views} stored augmented views per image, the same seed, data and augmentation for every variant.`,
    "",
    "The data is a JPEG re-encoding of CIFAR-10 (`../shared/datasets/README.md`): accuracies can differ slightly from figures on the official binary release.",
    "",
    resultsTable(rows),
    "",
    "Wall time: teachers: training; ensemble: the logit store's precompute; students: the whole variant run (data loading, the single-teacher store's precompute where there is one, training, evaluation).",
    "",
    "## Differences against the seed-to-seed spread",
    "",
    "A gap exceeds the spread when it is larger than the sum of both rows' standard deviations over the seeds; with one seed there is no spread to compare with.",
    "",
    comparisonTable(rows, comparisons),
    "",
    "## The teachers on the test set",
    "",
    "How much the two teachers differ bounds what a second token can add:",
    "",
    ...agreementLines(figures),
    "",
    ...investigationLines(figures, rows, ablationRows),
    "## Measured per-epoch times (seed " + f0.seed + ")",
    "",
    ...perEpochLines(s, figures),
    "",
    `Stored logits (both teachers, fp32, ${b.views} views): ${
      formatBytes(f0.storeBytes)
    }. The runs' own wall times add up to ${
      figures.map((f) => formatSeconds(seedSeconds(f))).join(", ")
    } per seed (the teacher run and every variant, ablations included); this invocation took ${
      formatSeconds(totalSeconds)
    } (complete runs are skipped).`,
    "",
    `Command: \`deno task bench:results ${
      s.commandLine.join(" ") || `--budget ${s.budgetName}`
    }\` (runs in \`${s.runsDir}/\`). Needs: ${b.needs}.`,
    "",
  ].join("\n");
}

async function main(args: string[]): Promise<void> {
  const s = parseSettings(args);
  if (!(await exists(s.dataPath))) {
    fail(`--data-path: ${s.dataPath} does not exist`);
  }
  const started = performance.now();
  await Deno.mkdir(s.runsDir, { recursive: true });
  const figures: SeedFigures[] = [];
  for (const seed of s.budget.seeds) {
    const teachers = await teacherRun(s, seed);
    const agreement = await teacherAgreement(s, seed, teachers);
    const storeBytes = (await Deno.stat(
      join(s.runsDir, teacherRunName(seed), "logits.vkl"),
    )).size;
    const variants: Record<string, RunState> = {};
    for (const v of s.variants) {
      variants[v.id] = await variantRun(s, seed, v, teachers);
    }
    figures.push({ seed, teachers, agreement, storeBytes, variants });
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const rows = buildRows(figures);
  const ablationRows = ABLATIONS.filter((v) => ranEverywhere(figures, v)).map(
    (v) => variantRow(figures, v),
  );
  await Deno.mkdir(s.outDir, { recursive: true });
  const markdown = reportMarkdown(
    s,
    figures,
    rows,
    ablationRows,
    totalSeconds,
  );
  const stem = `results-${s.budgetName}`;
  await Deno.writeTextFile(join(s.outDir, `${stem}.md`), markdown);
  await Deno.writeTextFile(
    join(s.outDir, `${stem}.svg`),
    resultsSvg(
      [...rows, ...ablationRows],
      `CIFAR-10, ${s.budget.perClass}/class, budget ${s.budgetName}`,
    ),
  );
  await Deno.writeTextFile(
    join(s.outDir, `${stem}.json`),
    JSON.stringify(
      {
        budget: s.budget,
        rows,
        ablationRows,
        agreement: figures.map((f) => ({ seed: f.seed, ...f.agreement })),
      },
      null,
      2,
    ) + "\n",
  );
  console.log(markdown);
  console.error(`wrote ${join(s.outDir, stem)}.{md,svg,json}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    // The train app has printed its own message above; name the failed step.
    console.error(
      `bench:results: ${error instanceof Error ? error.message : error}`,
    );
    Deno.exit(1);
  }
}
