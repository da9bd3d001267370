/**
 * The default demo (`deno task train`, the quick preset) over several seeds:
 * the distilled student against the same student without teachers, paired
 * by seed (t-test) and image by image within each seed (McNemar). This is
 * how the quick preset's settings were chosen, and what its report's
 * one-seed test should be read against.
 *
 *   deno task bench:demo [--seeds 0,1,2] [--runs-dir runs/bench-demo]
 *     [--out FILE.md] [-- train flags, e.g. --per-class 100 --epochs 30]
 *
 * Each seed is one train-app run `<runs-dir>/<tag>-s<seed>` (complete runs
 * are skipped, unfinished ones resumed); `<tag>` names the extra flags.
 *
 * @module
 */
import { parseArgs } from "@std/cli/parse-args";
import {
  decodeOutcomes,
  formatP,
  mcnemarFromOutcomes,
  pairedTTest,
} from "@vitkd/distill";
import {
  exists,
  loadRunState,
  main as train,
  type RunState,
} from "@vitkd/train";
import { join } from "node:path";
import { markdownTable } from "./results/stats.ts";

/** One seed's run of the preset (trained, resumed or found complete). */
async function seedRun(
  runsDir: string,
  name: string,
  seed: number,
  extra: string[],
): Promise<RunState> {
  const root = join(runsDir, name);
  if (await exists(join(root, "run.json"))) {
    const state = await loadRunState(root);
    if (state.complete) return state;
  }
  const resume = await exists(join(root, "run.json"));
  const args = [
    "run",
    ...(resume ? ["--resume"] : []),
    "--name",
    name,
    "--runs-dir",
    runsDir,
    "--seed",
    String(seed),
    ...extra,
  ];
  console.error(`\n$ deno task train ${args.join(" ")}`);
  const toStderr = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  const code = await train(args, {
    log: (m) => toStderr(m + "\n"),
    out: toStderr,
  });
  if (code !== 0) throw new Error(`deno task train exited with ${code}`);
  return await loadRunState(root);
}

async function main(argv: string[]): Promise<void> {
  const dashes = argv.indexOf("--");
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const extra = dashes < 0 ? [] : argv.slice(dashes + 1);
  const flags = parseArgs(own, {
    string: ["seeds", "runs-dir", "out"],
    default: { seeds: "0,1,2", "runs-dir": "runs/bench-demo" },
  });
  const seeds = String(flags.seeds).split(",").map(Number);
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(
      `--seeds: expected integers like 0,1,2, got ${flags.seeds}`,
    );
  }
  const tag = extra.length
    ? extra.join("").replaceAll(/[^A-Za-z0-9.]+/g, "_").replace(/^_/, "")
    : "default";
  const rows: string[][] = [];
  const student: number[] = [];
  const baseline: number[] = [];
  let settings = "";
  for (const seed of seeds) {
    const state = await seedRun(
      flags["runs-dir"],
      `${tag}-s${seed}`,
      seed,
      extra,
    );
    const s = state.results.student;
    const b = state.results.baseline;
    if (!s || !b) {
      throw new Error(`run ${state.name} has no student or baseline`);
    }
    const c = config(state);
    settings = c;
    const m = s.testCorrect && b.testCorrect
      ? mcnemarFromOutcomes(
        decodeOutcomes(s.testCorrect),
        decodeOutcomes(b.testCorrect),
      )
      : undefined;
    student.push(s.accuracy);
    baseline.push(b.accuracy);
    rows.push([
      String(seed),
      ...state.results.teachers.map((t) =>
        `${t.name} ${(100 * t.accuracy).toFixed(2)} %`
      ),
      `${(100 * s.accuracy).toFixed(2)} %`,
      `${(100 * b.accuracy).toFixed(2)} %`,
      `${(100 * (s.accuracy - b.accuracy)).toFixed(2)}`,
      m ? `${m.onlyA} / ${m.onlyB}` : "—",
      m ? formatP(m.p) : "—",
    ]);
  }
  const t = pairedTTest(student, baseline);
  const verdict = t.n < 2
    ? "one seed: no test over seeds"
    : t.p < 0.05
    ? `the distilled student is significantly ${
      t.meanDiff > 0 ? "better" : "worse"
    } (paired t-test over ${t.n} seeds, p = ${formatP(t.p)})`
    : `no significant difference (paired t-test over ${t.n} seeds, p = ${
      formatP(t.p)
    })`;
  const text = [
    `# The default demo over seeds (${tag})`,
    "",
    settings,
    "",
    markdownTable(
      [
        "seed",
        "teacher 1",
        "teacher 2",
        "distilled student",
        "no teachers",
        "gap (pt)",
        "only distilled / only no-teacher right",
        "McNemar p",
      ],
      rows,
      [true, false, false, true, true, true, true, true],
    ),
    "",
    `Mean gap ${(100 * t.meanDiff).toFixed(2)} points (95 % CI ${
      (100 * t.ci95[0]).toFixed(2)
    } … ${(100 * t.ci95[1]).toFixed(2)}): ${verdict}.`,
    "",
    `Command: \`deno task bench:demo --seeds ${seeds.join(",")}${
      extra.length ? ` -- ${extra.join(" ")}` : ""
    }\``,
    "",
  ].join("\n");
  console.log(text);
  if (flags.out) await Deno.writeTextFile(flags.out, text);
}

function config(state: RunState): string {
  const c = state.config;
  return `${c.dataset.kind}, ${
    c.perClass ?? "all"
  } training images per class, ${
    state.data?.test ?? "?"
  } test images; teachers ${
    c.teachers.join(", ")
  } ${c.teacherEpochs} epochs; student ${c.student.name} ${
    JSON.stringify(c.student.options)
  } ${c.epochs} epochs; ${c.views} stored views (the student without teachers replays the same views); tau ${c.tau}.`;
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(
      `bench:demo: ${error instanceof Error ? error.message : error}`,
    );
    Deno.exit(1);
  }
}
