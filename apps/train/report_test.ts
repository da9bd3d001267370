import { assert, assertEquals } from "@std/assert";
import { presetConfig } from "./presets.ts";
import { encodeOutcomes } from "@vitkd/distill";
import {
  accuracyTable,
  formatReportMarkdown,
  formatReportText,
  formatTableText,
  studentComparison,
} from "./report.ts";
import { newRunState } from "./run_folder.ts";

function sampleState() {
  const state = newRunState("r1", presetConfig("quick"));
  state.results.teachers = [
    {
      name: "resnet8",
      architecture: "resnet8",
      parameters: 78042,
      accuracy: 0.91,
      trainSeconds: 40,
    },
  ];
  state.results.student = {
    name: "student",
    architecture: "vit-tiny",
    parameters: 1234,
    accuracy: 0.8765,
    headAccuracies: [0.85, 0.86, 0.87],
    headNames: ["cls", "resnet8", "rednet8"],
    trainSeconds: 125,
  };
  state.stages.teachers = { status: "done", seconds: 80 };
  return state;
}

Deno.test("the accuracy table lists teachers, the student per head and averaged", () => {
  const table = accuracyTable(sampleState());
  assertEquals(table.rows.length, 2);
  assertEquals(table.rows[0].slice(0, 5), [
    "teacher",
    "resnet8",
    "resnet8",
    "78,042",
    "91.00 %",
  ]);
  assertEquals(table.rows[1][4], "87.65 %");
  assertEquals(
    table.rows[1][5],
    "cls 85.00 %, resnet8 86.00 %, rednet8 87.00 %",
  );
  const text = formatTableText(table);
  const lines = text.split("\n");
  // The columns line up: every line has the separator's two-space gaps, and
  // right-aligned cells end where their column's dashes end.
  const separator = lines[1];
  assert(/^-+( {2}-+)+$/.test(separator), separator);
  const gaps = [...separator.matchAll(/ {2}/g)].map((m) => m.index);
  assertEquals(gaps.length, table.header.length - 1);
  for (const line of [lines[0], ...lines.slice(2)]) {
    for (const gap of gaps) assertEquals(line.slice(gap, gap + 2), "  ", line);
  }
  const accuracyEnd = gaps[4]; // "test acc" is column 4, right-aligned
  assertEquals(lines[2].slice(0, accuracyEnd).endsWith(" 91.00 %"), true);
  assertEquals(lines[3].slice(0, accuracyEnd).endsWith(" 87.65 %"), true);
  assertEquals(lines[3].endsWith(" 2m05s"), true);
  assertEquals(lines.length, 2 + table.rows.length);
});

Deno.test("reports carry the stage times, in text and markdown", () => {
  const state = sampleState();
  const text = formatReportText(state);
  assert(/teachers\s+done\s+1m20s/.test(text), text);
  const md = formatReportMarkdown(state);
  assert(md.includes("| role | model |"));
  assert(md.includes("| ---: |") || md.includes("---:"));
  assert(md.includes("The run is not complete."));
});

Deno.test("the report tests the student against the baseline and says when nothing is significant", () => {
  const state = sampleState();
  // 1,000 images: the student is right on 0..929, the baseline on 10..939
  const outcomes = (from: number, to: number) =>
    encodeOutcomes(
      Array.from({ length: 1000 }, (_, i) => i >= from && i < to ? 1 : 0),
    );
  state.results.student = {
    ...state.results.student!,
    accuracy: 0.93,
    testCorrect: outcomes(0, 930),
  };
  state.results.baseline = {
    name: "baseline",
    architecture: "vit-tiny",
    parameters: 1000,
    accuracy: 0.93,
    testCorrect: outcomes(10, 940),
  };
  const c = studentComparison(state)!;
  assertEquals([c.onlyStudent, c.onlyBaseline, c.images], [10, 10, 1000]);
  assertEquals(c.p, 1);
  assert(c.verdict.startsWith("no significant difference"), c.verdict);
  const md = formatReportMarkdown(state);
  assert(md.includes("## Distilled against no teachers (paired test)"), md);
  assert(md.includes("McNemar p = 1.00"), md);
  assert(formatReportText(state).includes("no significant difference"));
  // a lopsided split is significant, and the sign is named
  state.results.baseline.testCorrect = outcomes(40, 940);
  state.results.baseline.accuracy = 0.9;
  assert(
    studentComparison(state)!.verdict.startsWith(
      "the distilled student is significantly better",
    ),
  );
  // without outcomes there is no test and no section
  state.results.baseline.testCorrect = undefined;
  assertEquals(studentComparison(state), undefined);
  assert(!formatReportMarkdown(state).includes("paired test"));
});
