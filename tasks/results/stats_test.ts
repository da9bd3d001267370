import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  compareSpreads,
  comparisonTable,
  formatAccuracy,
  formatBytes,
  formatSeconds,
  markdownTable,
  pairedGaps,
  resultsSvg,
  resultsTable,
  spreadOf,
} from "./stats.ts";

Deno.test("spreadOf gives the mean and the sample standard deviation", () => {
  const s = spreadOf([0.5, 0.6, 0.7]);
  assertEquals(s.n, 3);
  assertAlmostEquals(s.mean, 0.6, 1e-12);
  assertAlmostEquals(s.sd, 0.1, 1e-12);
  assertEquals(spreadOf([0.4]), { n: 1, mean: 0.4, sd: 0 });
  assert(Number.isNaN(spreadOf([]).mean));
});

Deno.test("compareSpreads needs a gap larger than the summed deviations", () => {
  const a = spreadOf([0.70, 0.72, 0.74]); // sd 0.02
  const b = spreadOf([0.60, 0.61, 0.62]); // sd 0.01
  assertEquals(compareSpreads(a, b), "exceeds spread");
  const c = spreadOf([0.69, 0.71, 0.73]);
  assertEquals(compareSpreads(a, c), "within spread");
  assertEquals(compareSpreads(spreadOf([0.9]), b), "one seed");
});

Deno.test("formatters write accuracies, seconds and bytes", () => {
  assertEquals(formatAccuracy(spreadOf([0.5, 0.6, 0.7])), "60.00 ± 10.00 %");
  assertEquals(formatAccuracy(spreadOf([0.1234])), "12.34 %");
  assertEquals(formatAccuracy(spreadOf([])), "—");
  assertEquals(formatSeconds(12.34), "12.3s");
  assertEquals(formatSeconds(184), "3m04s");
  assertEquals(formatSeconds(3720), "1h02m");
  assertEquals(formatBytes(812), "812 B");
  assertEquals(formatBytes(3 * 1024 * 1024), "3.00 MiB");
});

Deno.test("markdownTable aligns columns and marks right-aligned ones", () => {
  const text = markdownTable(["a", "num"], [["x", "1"], ["long", "22"]], [
    false,
    true,
  ]);
  assertEquals(
    text,
    "| a    | num |\n| ---- | --: |\n| x    |   1 |\n| long |  22 |",
  );
});

Deno.test("results and comparison tables carry every row and verdict", () => {
  const rows = [
    {
      id: "none",
      label: "no KD",
      accuracies: [0.5, 0.52],
      seconds: [10, 12],
    },
    {
      id: "both",
      label: "two tokens",
      accuracies: [0.6, 0.61],
      seconds: [20, 22],
    },
  ];
  const table = resultsTable(rows);
  assert(table.includes("| no KD "), table);
  assert(table.includes("51.00 ± 1.41 %"), table);
  assert(table.includes("21.0s"), table);
  const comparison = comparisonTable(rows, [{ a: "both", b: "none" }, {
    a: "both",
    b: "missing",
  }]);
  assert(comparison.includes("two tokens − no KD"), comparison);
  assert(comparison.includes("+9.50 pt"), comparison);
  assert(comparison.includes("exceeds spread"), comparison);
  assert(comparison.includes("+10.0, +9.0 (every seed)"), comparison);
  assertEquals(comparison.split("\n").length, 3);
});

Deno.test("pairedGaps lists per-seed gaps and marks a consistent sign", () => {
  assertEquals(pairedGaps([0.5, 0.6], [0.4, 0.5]), "+10.0, +10.0 (every seed)");
  assertEquals(pairedGaps([0.5, 0.4], [0.4, 0.5]), "+10.0, -10.0");
  assertEquals(pairedGaps([0.5], [0.4]), "+10.0");
  assertEquals(pairedGaps([0.5, NaN], [0.4, 0.4]), "—");
  assertEquals(pairedGaps([], []), "—");
});

Deno.test("resultsSvg draws one dot per seed and escapes labels", () => {
  const svg = resultsSvg([
    { id: "a", label: "CNN <teacher>", accuracies: [0.4, 0.5], seconds: [] },
    { id: "b", label: "student", accuracies: [0.3], seconds: [] },
  ], "title & more");
  assert(svg.startsWith("<svg"));
  assertEquals(svg.match(/<circle /g)?.length, 3);
  assert(svg.includes("CNN &lt;teacher&gt;"));
  assert(svg.includes("title &amp; more"));
  assert(!svg.includes("NaN"));
});
