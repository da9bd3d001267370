import { decodeOutcomes, formatP, mcnemarFromOutcomes } from "@vitkd/distill";
import { STAGES } from "./config.ts";
import { formatDuration } from "./progress.ts";
import type { ModelResult, RunState } from "./run_folder.ts";

/** A table: a header row and body rows of cells. */
export interface Table {
  /** Column titles. */
  header: string[];
  /** Rows, each as long as the header. */
  rows: string[][];
  /** Columns to right-align (numbers). */
  alignRight: number[];
}

function pct(accuracy: number | undefined): string {
  return accuracy === undefined || !Number.isFinite(accuracy)
    ? "-"
    : `${(accuracy * 100).toFixed(2)} %`;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function modelRow(role: string, r: ModelResult): string[] {
  const heads = r.headAccuracies && r.headNames
    ? r.headNames.map((h, i) => `${h} ${pct(r.headAccuracies![i])}`).join(
      ", ",
    )
    : "-";
  return [
    role,
    r.name,
    r.architecture,
    count(r.parameters),
    pct(r.accuracy),
    heads,
    r.trainSeconds === undefined ? "-" : formatDuration(r.trainSeconds),
  ];
}

/** The accuracy table: each teacher, the student (per head and averaged), the baseline. */
export function accuracyTable(state: RunState): Table {
  const rows: string[][] = [];
  for (const t of state.results.teachers) rows.push(modelRow("teacher", t));
  if (state.results.student) {
    rows.push(modelRow("student", state.results.student));
  }
  if (state.results.baseline) {
    rows.push(modelRow("no teachers", state.results.baseline));
  }
  return {
    header: [
      "role",
      "model",
      "architecture",
      "params",
      "test acc",
      "per head",
      "train time",
    ],
    rows,
    alignRight: [3, 4, 6],
  };
}

/** The stage timing table. */
export function stageTable(state: RunState): Table {
  const rows = STAGES.map((s) => {
    const r = state.stages[s];
    return [s, r.status, formatDuration(r.seconds)];
  });
  const total = STAGES.reduce((sum, s) => sum + state.stages[s].seconds, 0);
  rows.push([
    "total",
    state.complete ? "complete" : "incomplete",
    formatDuration(total),
  ]);
  return { header: ["stage", "status", "time"], rows, alignRight: [2] };
}

/** A table as aligned plain text, for the terminal. */
export function formatTableText(table: Table): string {
  const widths = table.header.map((h, c) =>
    Math.max(h.length, ...table.rows.map((r) => r[c].length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, c) =>
      table.alignRight.includes(c)
        ? cell.padStart(widths[c])
        : cell.padEnd(widths[c])
    ).join("  ").trimEnd();
  return [
    line(table.header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...table.rows.map(line),
  ].join("\n");
}

function mdCell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** A table as GitHub-flavoured markdown. */
export function formatTableMarkdown(table: Table): string {
  const sep = table.header.map((_, c) =>
    table.alignRight.includes(c) ? "---:" : "---"
  );
  return [table.header, sep, ...table.rows].map((r) =>
    `| ${r.map(mdCell).join(" | ")} |`
  ).join("\n");
}

function settings(state: RunState): string[] {
  const c = state.config;
  const data = c.dataset.path
    ? `${c.dataset.kind} (${c.dataset.path})`
    : c.dataset.kind;
  const lines = [
    `data: ${data}, ${
      c.perClass === null ? "all" : c.perClass
    } training images per class` +
    (state.data
      ? ` (${count(state.data.train)} train, ${count(state.data.test)} test)`
      : ""),
    `teachers: ${
      c.teachers.length ? c.teachers.join(", ") : "none"
    }, ${c.teacherEpochs} epochs`,
    `student: ${c.student.name} ${
      JSON.stringify(c.student.options)
    }, ${c.epochs} epochs, batch ${c.batchSize}, lr ${c.learningRate}`,
    `loss: ${c.loss}, tau ${c.tau}, weights ${
      c.weights ? c.weights.join(",") : "equal"
    }, ${c.views} stored view(s) per image, ${c.encoding} logits`,
    `seed ${c.seed}; backend ${state.backend ?? c.backend}`,
  ];
  if (c.dataset.kind === "cifar10-folder") {
    lines.push(
      "CIFAR-10 here is a JPEG re-encoding of the official release: accuracies can differ slightly from published CIFAR-10 figures.",
    );
  }
  return lines;
}

/** The distilled student against the same student without teachers, image by image. */
export interface StudentComparison {
  /** Test accuracy of the distilled student. */
  student: number;
  /** Test accuracy of the student trained without teachers. */
  baseline: number;
  /** Test images both were evaluated on. */
  images: number;
  /** Images only the distilled student classifies right. */
  onlyStudent: number;
  /** Images only the student without teachers classifies right. */
  onlyBaseline: number;
  /** McNemar's exact two-sided p-value. */
  p: number;
  /** One sentence: the result in words, never more than the test supports. */
  verdict: string;
}

/**
 * McNemar's exact test of the distilled student against the baseline on
 * the same test images, when the run has both and their per-image outcomes.
 */
export function studentComparison(
  state: RunState,
): StudentComparison | undefined {
  const { student, baseline } = state.results;
  if (!student?.testCorrect || !baseline?.testCorrect) return undefined;
  const a = decodeOutcomes(student.testCorrect);
  const b = decodeOutcomes(baseline.testCorrect);
  if (a.length !== b.length || a.length === 0) return undefined;
  const test = mcnemarFromOutcomes(a, b);
  const gap = 100 * (student.accuracy - baseline.accuracy);
  const gapText = `${gap >= 0 ? "+" : ""}${gap.toFixed(2)} points`;
  const verdict = test.p < 0.05
    ? `the distilled student is significantly ${
      gap > 0 ? "better" : "worse"
    } on these test images (${gapText}, McNemar p = ${formatP(test.p)})`
    : `no significant difference (${gapText}, McNemar p = ${formatP(test.p)})`;
  return {
    student: student.accuracy,
    baseline: baseline.accuracy,
    images: a.length,
    onlyStudent: test.onlyA,
    onlyBaseline: test.onlyB,
    p: test.p,
    verdict,
  };
}

/** The comparison's sentences (empty when the run has no baseline to test against). */
export function comparisonLines(state: RunState): string[] {
  const c = studentComparison(state);
  if (!c) return [];
  return [
    `Distilled student ${
      pct(c.student)
    } against the same student without teachers ${
      pct(c.baseline)
    }, on the same ${
      count(c.images)
    } test images and the same stored views: ${c.verdict}. ${
      count(c.onlyStudent)
    } images are right only for the distilled student, ${
      count(c.onlyBaseline)
    } only for the one without teachers.`,
    "One seed: McNemar's test covers the sampling of the test images, not the variation between training seeds, so one run cannot establish a gain; `deno task bench:results` compares over several seeds.",
  ];
}

/** The report as plain text for the terminal. */
export function formatReportText(state: RunState): string {
  return [
    `Run ${state.name}`,
    ...settings(state).map((s) => `  ${s}`),
    "",
    formatTableText(accuracyTable(state)),
    "",
    ...comparisonLines(state).flatMap((line) => [line, ""]),
    formatTableText(stageTable(state)),
  ].join("\n");
}

/** The report as markdown, written to `report.md`. */
export function formatReportMarkdown(state: RunState): string {
  return [
    `# Run \`${state.name}\``,
    "",
    ...settings(state).map((s) => `- ${s}`),
    "",
    "## Test accuracy",
    "",
    formatTableMarkdown(accuracyTable(state)),
    "",
    "The student predicts with the mean of its heads' softmax; `per head` lists each head alone (`cls` is the class-token head, the others the distillation tokens in teacher order).",
    "",
    ...(comparisonLines(state).length
      ? [
        "## Distilled against no teachers (paired test)",
        "",
        ...comparisonLines(state).flatMap((line) => [line, ""]),
      ]
      : []),
    "## Time per stage",
    "",
    formatTableMarkdown(stageTable(state)),
    "",
    state.complete
      ? `Finished ${state.finishedAt}.`
      : "The run is not complete.",
    "",
  ].join("\n");
}
