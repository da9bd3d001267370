/**
 * The report of the fair comparison: the arms' accuracies over seeds, the
 * teachers, and each comparison as per-seed paired differences with a
 * paired t-test (and Holm's adjustment over the table's comparisons) and
 * McNemar's exact test per seed; an SVG of the per-seed differences. Pure
 * functions of the finished result files, so they are tested without
 * training.
 *
 * @module
 */
import { type Arm, ARMS, COMPARISONS, type FairBudget } from "./fair_setup.ts";
import type { ArmResult, TeacherResult } from "./fair_runs.ts";
import {
  decodeOutcomes,
  formatP,
  holmAdjust,
  mcnemarFromOutcomes,
  type PairedTTest,
  pairedTTest,
} from "@vitkd/distill";
import {
  formatAccuracy,
  formatSeconds,
  markdownTable,
  spreadOf,
} from "./stats.ts";

/** The teachers of one seed, as written to `<out>/seeds/s<seed>-teachers.json`. */
export interface SeedTeachers {
  /** File format marker. */
  format: "vitkd-fair-teachers";
  /** The seed. */
  seed: number;
  /** Teacher epochs. */
  teacherEpochs: number;
  /** Each trained teacher. */
  teachers: TeacherResult[];
}

/** What the report is made from. */
export interface FairReportInput {
  /** Budget name. */
  budgetName: string;
  /** The budget's settings. */
  budget: FairBudget;
  /** Its key (results of other keys are already left out). */
  key: string;
  /** Every finished arm of every seed. */
  arms: ArmResult[];
  /** Every seed's teachers. */
  teachers: SeedTeachers[];
  /** The command that makes the table. */
  command: string;
  /** Seconds of the invocation that wrote the report. */
  invocationSeconds?: number;
}

/** Which evaluation a figure comes from. */
export type Split = "val" | "test";

/** One comparison `a - b` on one split. */
export interface ComparisonFigures {
  /** Arm id a. */
  a: string;
  /** Arm id b. */
  b: string;
  /** Why the comparison is in the table. */
  why: string;
  /** Seeds both arms finished, ascending. */
  seeds: number[];
  /** Per-seed differences a - b (accuracy, in [−1, 1]). */
  diffs: number[];
  /** The paired t-test over the seeds. */
  tTest: PairedTTest;
  /** Holm-adjusted p over the table's comparisons. */
  holmP: number;
  /** McNemar's exact p per seed (same order as `seeds`). */
  mcnemarP: number[];
  /** The verdict in words. */
  verdict: string;
}

function accuracyOf(r: ArmResult, split: Split): number | null {
  return split === "test" ? r.testAccuracy : r.valAccuracy;
}

function outcomesOf(r: ArmResult, split: Split): string | null {
  return split === "test" ? r.testCorrect : r.valCorrect;
}

function resultsFor(
  input: FairReportInput,
  arm: string,
  split: Split,
): Map<number, ArmResult> {
  return new Map(
    input.arms.filter((r) => r.arm === arm && accuracyOf(r, split) !== null)
      .map((r) => [r.seed, r]),
  );
}

/** The verdict of a comparison at the 5 % level (Holm-adjusted). */
export function verdictOf(
  label: { a: string; b: string },
  test: PairedTTest,
  holmP: number,
): string {
  if (test.n < 2) return "too few seeds for a test";
  if (Number.isNaN(test.p)) {
    return "no test: the per-seed differences are identical";
  }
  if (!(holmP < 0.05)) return "no significant difference";
  return test.meanDiff > 0
    ? `${label.a} better (p < 0.05 after Holm)`
    : `${label.b} better (p < 0.05 after Holm)`;
}

/** Every comparison of the table on `split`. */
export function comparisons(
  input: FairReportInput,
  split: Split,
): ComparisonFigures[] {
  const raw = COMPARISONS.map(({ a, b, why }) => {
    const ra = resultsFor(input, a, split);
    const rb = resultsFor(input, b, split);
    const seeds = [...ra.keys()].filter((s) => rb.has(s)).sort((x, y) => x - y);
    const accA = seeds.map((s) => accuracyOf(ra.get(s)!, split)!);
    const accB = seeds.map((s) => accuracyOf(rb.get(s)!, split)!);
    const mcnemarP = seeds.map((s) => {
      const oa = outcomesOf(ra.get(s)!, split);
      const ob = outcomesOf(rb.get(s)!, split);
      return oa && ob
        ? mcnemarFromOutcomes(decodeOutcomes(oa), decodeOutcomes(ob)).p
        : NaN;
    });
    return {
      a,
      b,
      why,
      seeds,
      diffs: accA.map((x, i) => x - accB[i]),
      tTest: pairedTTest(accA, accB),
      mcnemarP,
    };
  }).filter((c) => c.seeds.length > 0);
  const holm = holmAdjust(raw.map((c) => c.tTest.p));
  return raw.map((c, i) => ({
    ...c,
    holmP: holm[i],
    verdict: verdictOf(c, c.tTest, holm[i]),
  }));
}

function armLabel(id: string): string {
  return ARMS.find((a) => a.id === id)?.label ?? id;
}

function signed(points: number, digits = 2): string {
  if (Number.isNaN(points)) return "—";
  return `${points >= 0 ? "+" : ""}${points.toFixed(digits)}`;
}

function armRows(input: FairReportInput): string[][] {
  const arms: Arm[] = ARMS.filter((a) =>
    input.arms.some((r) => r.arm === a.id)
  );
  return arms.map((arm) => {
    const results = input.arms.filter((r) => r.arm === arm.id).sort((x, y) =>
      x.seed - y.seed
    );
    const tests = results.map((r) => r.testAccuracy).filter((
      x,
    ): x is number => x !== null);
    return [
      `${arm.label} (\`${arm.id}\`)`,
      results.map((r) => r.seed).join(", "),
      formatAccuracy(spreadOf(results.map((r) => r.valAccuracy))),
      tests.length ? formatAccuracy(spreadOf(tests)) : "—",
      results.length ? results[0].parameters.toLocaleString("en-US") : "—",
      formatSeconds(spreadOf(results.map((r) => r.trainSeconds)).mean),
    ];
  });
}

function teacherRows(input: FairReportInput): string[][] {
  const ids = ["cnn", "cnn2", "inn", "inn2"];
  return ids.flatMap((id) => {
    const rs = input.teachers.flatMap((s) =>
      s.teachers.filter((t) => t.id === id)
    );
    if (rs.length === 0) return [];
    const tests = rs.map((t) => t.testAccuracy).filter((x): x is number =>
      x !== null
    );
    return [[
      `${id} (${rs[0].kind})`,
      String(rs.length),
      formatAccuracy(spreadOf(rs.map((t) => t.valAccuracy))),
      tests.length ? formatAccuracy(spreadOf(tests)) : "—",
      formatSeconds(spreadOf(rs.map((t) => t.trainSeconds)).mean),
    ]];
  });
}

function comparisonTable(figures: ComparisonFigures[]): string {
  return markdownTable(
    [
      "comparison (a − b)",
      "seeds",
      "mean gap",
      "95 % CI",
      "paired t p",
      "Holm p",
      "per seed (points)",
      "McNemar p per seed",
      "verdict",
    ],
    figures.map((c) => [
      `\`${c.a}\` − \`${c.b}\``,
      String(c.seeds.length),
      `${signed(100 * c.tTest.meanDiff)} pt`,
      c.seeds.length > 1 && !Number.isNaN(c.tTest.p)
        ? `${signed(100 * c.tTest.ci95[0])} … ${signed(100 * c.tTest.ci95[1])}`
        : "—",
      formatP(c.tTest.p),
      formatP(c.holmP),
      c.diffs.map((d) => signed(100 * d, 1)).join(", "),
      c.mcnemarP.map(formatP).join(", "),
      c.verdict,
    ]),
    [false, true, true, true, true, true, false, false, false],
  );
}

function sameTeachersNote(input: FairReportInput): string[] {
  // an arm resumed on another machine may have used retrained teachers
  const mismatched: string[] = [];
  for (const seed of new Set(input.arms.map((r) => r.seed))) {
    const prints = new Map<string, Set<string>>();
    for (const r of input.arms.filter((x) => x.seed === seed)) {
      for (const t of r.teachers) {
        const set = prints.get(t.id) ?? new Set<string>();
        set.add(t.fingerprint);
        prints.set(t.id, set);
      }
    }
    for (const [id, set] of prints) {
      if (set.size > 1) mismatched.push(`seed ${seed} teacher ${id}`);
    }
  }
  return mismatched.length
    ? [
      `Warning: some arms of a seed used different weights of the same teacher (retrained on another machine): ${
        mismatched.join("; ")
      }.`,
      "",
    ]
    : [];
}

/** The report as markdown. */
export function fairReportMarkdown(input: FairReportInput): string {
  const b = input.budget;
  const test = comparisons(input, "test");
  const val = comparisons(input, "val");
  const seeds = [...new Set(input.arms.map((r) => r.seed))].sort((x, y) =>
    x - y
  );
  const complete = seeds.filter((s) =>
    ARMS.every((a) => input.arms.some((r) => r.seed === s && r.arm === a.id))
  );
  const testUsed = input.arms.some((r) => r.testAccuracy !== null);
  return [
    `# Fair comparison of distillation teachers (budget \`${input.budgetName}\`)`,
    "",
    `CIFAR-10 (the JPEG re-encoding in \`../shared/datasets/cifar10\`: accuracies can differ slightly from the official binary release), ${b.perClass} training images per class; validation: ${b.valPerClass} per class of the training images the subset leaves unused; test: ${
      b.testPerClass === "all"
        ? "all 10,000 images"
        : `${b.testPerClass} per class`
    }.`,
    `Teachers per seed: two ${b.cnn} (CNN, CNN') and two ${b.inn} (INN, INN') from different initialisations, ${b.teacherEpochs} epochs, label smoothing ${b.teacherLabelSmoothing}. Student ${b.student.name} (patch ${b.student.patchSize}, dim ${b.student.dim}, depth ${b.student.depth}, ${b.student.numHeads} heads, MLP ${b.student.mlpDim}), ${b.epochs} epochs, batch ${b.batchSize}, lr ${b.learningRate}, label smoothing ${b.labelSmoothing}, tau ${b.tau}; every arm trains on the same ${b.views} stored augmented views per image in the same order, from the same initialisation, with class-head weight 1 and a total distillation weight of ${b.distillWeight} split evenly over its tokens.`,
    "",
    `Seeds with results: ${
      seeds.join(", ") || "none yet"
    }; complete (every arm): ${
      complete.join(", ") || "none yet"
    }. Budget key \`${input.key}\`.`,
    "",
    ...sameTeachersNote(input),
    "## Students",
    "",
    markdownTable(
      [
        "arm",
        "seeds",
        "validation accuracy",
        "test accuracy",
        "parameters",
        "training (mean)",
      ],
      armRows(input),
      [false, false, true, true, true, true],
    ),
    "",
    "## Teachers",
    "",
    markdownTable(
      [
        "teacher",
        "seeds",
        "validation accuracy",
        "test accuracy",
        "training (mean)",
      ],
      teacherRows(input),
      [false, true, true, true, true],
    ),
    "",
    ...(testUsed
      ? [
        "## Paired comparisons on the test set",
        "",
        "Each seed's arms share data, views, teachers and initialisation, so the unit is the per-seed difference. `paired t p`: two-sided paired t-test over the seeds; `Holm p`: adjusted over the comparisons of this table; the verdict uses the Holm p at the 5 % level. `McNemar p per seed`: McNemar's exact test of the two students' right/wrong outcomes on the same test images, one seed at a time (it sees only test-set noise, not seed-to-seed noise).",
        "",
        comparisonTable(test),
        "",
      ]
      : []),
    "## Paired comparisons on the validation split",
    "",
    "The same comparisons on the validation images (what any choice of this budget was based on).",
    "",
    comparisonTable(val),
    "",
    "Why each comparison:",
    "",
    ...COMPARISONS.map((c) => `- \`${c.a}\` − \`${c.b}\`: ${c.why}.`),
    "",
    `Command: \`${input.command}\`. Needs: ${b.needs}.`,
    "",
  ].join("\n");
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/**
 * The per-seed paired differences of each comparison on the test set (the
 * validation split when no test figures exist): a dot per seed, the mean
 * and its 95 % confidence interval, and the zero line.
 */
export function fairReportSvg(input: FairReportInput): string {
  const split: Split = input.arms.some((r) => r.testAccuracy !== null)
    ? "test"
    : "val";
  const figures = comparisons(input, split);
  const labelWidth = 220;
  const plotWidth = 460;
  const rowHeight = 30;
  const top = 50;
  const bottom = 46;
  const width = labelWidth + plotWidth + 140;
  const height = top + Math.max(1, figures.length) * rowHeight + bottom;
  const dots = figures.flatMap((c) => c.diffs).filter(Number.isFinite).map((
    d,
  ) => Math.abs(100 * d));
  const intervals = figures.flatMap((c) => c.tTest.ci95).filter(
    Number.isFinite,
  ).map((d) => Math.abs(100 * d));
  // with two or three seeds an interval can be ten times the differences:
  // cap the axis so the dots stay readable (whiskers are clipped at the edge)
  const dotExtent = Math.max(2, ...dots);
  const extent = Math.min(
    Math.max(dotExtent, ...intervals),
    2 * dotExtent + 1,
  );
  const hi = Math.ceil(extent);
  const lo = -hi;
  const clip = (pt: number) => Math.max(lo, Math.min(hi, pt));
  const x = (pt: number) =>
    labelWidth + ((clip(pt) - lo) / (hi - lo)) * plotWidth;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${
      escapeXml(
        `Per-seed paired differences, ${
          split === "test" ? "test set" : "validation split"
        } (budget ${input.budgetName})`,
      )
    }</text>`,
  ];
  const step = hi > 12 ? 4 : hi > 6 ? 2 : 1;
  // ticks on multiples of the step, so zero is always one of them
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    parts.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top - 8}" x2="${
        x(t).toFixed(1)
      }" y2="${height - bottom}" stroke="${t === 0 ? "#333" : "#ddd"}"/>`,
      `<text x="${x(t).toFixed(1)}" y="${
        height - bottom + 16
      }" text-anchor="middle">${t > 0 ? "+" : ""}${t}</text>`,
    );
  }
  parts.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${
      height - 10
    }" text-anchor="middle">accuracy difference a − b, points (dots: seeds; bar: mean, whisker: 95 % CI)</text>`,
  );
  figures.forEach((c, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(
      `<text x="${labelWidth - 8}" y="${cy + 4}" text-anchor="end">${
        escapeXml(`${c.a} − ${c.b}`)
      }</text>`,
      `<text x="${labelWidth + plotWidth + 8}" y="${cy + 4}">${
        escapeXml(`p = ${formatP(c.tTest.p)} (n = ${c.seeds.length})`)
      }</text>`,
    );
    const [l, h] = c.tTest.ci95;
    if (Number.isFinite(l) && Number.isFinite(h)) {
      parts.push(
        `<line x1="${x(100 * l).toFixed(1)}" y1="${cy}" x2="${
          x(100 * h).toFixed(1)
        }" y2="${cy}" stroke="#555" stroke-width="2"/>`,
      );
    }
    if (Number.isFinite(c.tTest.meanDiff)) {
      const m = x(100 * c.tTest.meanDiff).toFixed(1);
      parts.push(
        `<line x1="${m}" y1="${cy - 9}" x2="${m}" y2="${
          cy + 9
        }" stroke="#c0392b" stroke-width="3"/>`,
      );
    }
    for (const d of c.diffs) {
      parts.push(
        `<circle cx="${
          x(100 * d).toFixed(1)
        }" cy="${cy}" r="4" fill="#2c7fb8" fill-opacity="0.75"/>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** The report's figures as JSON (no per-image outcomes: those stay in `seeds/`). */
export function fairReportJson(input: FairReportInput): unknown {
  const strip = (c: ComparisonFigures) => ({
    a: c.a,
    b: c.b,
    seeds: c.seeds,
    diffs: c.diffs,
    meanDiff: c.tTest.meanDiff,
    ci95: c.tTest.ci95,
    t: c.tTest.t,
    p: c.tTest.p,
    holmP: c.holmP,
    mcnemarP: c.mcnemarP,
    verdict: c.verdict,
  });
  return {
    budget: input.budgetName,
    key: input.key,
    settings: input.budget,
    arms: ARMS.map((a) => ({
      arm: a.id,
      label: a.label,
      results: input.arms.filter((r) => r.arm === a.id).map((r) => ({
        seed: r.seed,
        val: r.valAccuracy,
        test: r.testAccuracy,
        trainSeconds: r.trainSeconds,
      })),
    })),
    test: comparisons(input, "test").map(strip),
    val: comparisons(input, "val").map(strip),
  };
}

/** The label of an arm id, for other reports. */
export { armLabel };
