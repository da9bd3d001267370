import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import type { ArmResult } from "./fair_runs.ts";
import {
  comparisons,
  type FairReportInput,
  fairReportJson,
  fairReportMarkdown,
  fairReportSvg,
  verdictOf,
} from "./fair_report.ts";
import { FAIR_BUDGETS } from "./fair_setup.ts";
import { encodeOutcomes, pairedTTest } from "@vitkd/distill";

/** An arm result whose first `right` of 100 test images are right. */
function result(arm: string, seed: number, right: number): ArmResult {
  const outcomes = Array.from({ length: 100 }, (_, i) => i < right ? 1 : 0);
  return {
    format: "vitkd-fair-arm",
    budget: "tiny",
    key: "k",
    seed,
    arm,
    tokens: "learned",
    teachers: [],
    weights: [1],
    parameters: 1000,
    valAccuracy: right / 100,
    testAccuracy: right / 100,
    valCorrect: encodeOutcomes(outcomes),
    testCorrect: encodeOutcomes(outcomes),
    trainSeconds: 10,
    backend: "cpu",
    finishedAt: "2026-11-30T00:00:00Z",
  };
}

function input(arms: ArmResult[]): FairReportInput {
  return {
    budgetName: "tiny",
    budget: FAIR_BUDGETS.tiny,
    key: "k",
    arms,
    teachers: [],
    command: "deno task bench:results --budget tiny",
  };
}

Deno.test("comparisons pair seeds and test the per-seed differences", () => {
  const arms = [
    result("none", 0, 40),
    result("none", 1, 42),
    result("none", 2, 41),
    result("cnn-inn", 0, 50),
    result("cnn-inn", 1, 51),
    result("cnn-inn", 2, 53),
    result("cnn-w2", 0, 50), // only one seed: paired over that seed alone
  ];
  const figures = comparisons(input(arms), "test");
  const main = figures.find((c) => c.a === "cnn-inn" && c.b === "none")!;
  assertEquals(main.seeds, [0, 1, 2]);
  assertAlmostEquals(main.tTest.meanDiff, 0.1033333, 1e-6);
  assertEquals(
    main.tTest.p,
    pairedTTest([0.5, 0.51, 0.53], [0.4, 0.42, 0.41]).p,
  );
  // discordant images: 10, 9 and 12, all in favour of cnn-inn
  assertAlmostEquals(main.mcnemarP[0], 2 / 1024, 1e-12);
  const single = figures.find((c) => c.a === "cnn-inn" && c.b === "cnn-w2")!;
  assertEquals(single.seeds, [0]);
  assertEquals(single.verdict, "too few seeds for a test");
  // comparisons with an arm that never ran are left out
  assert(!figures.some((c) => c.a === "inn-inn" || c.b === "inn-inn"));
});

Deno.test("the verdict says no significant difference unless Holm p < 0.05", () => {
  const t = pairedTTest([0.5, 0.52, 0.51], [0.49, 0.5, 0.52]);
  assertEquals(
    verdictOf({ a: "x", b: "y" }, t, 0.3),
    "no significant difference",
  );
  const same = pairedTTest([0.5, 0.6], [0.4, 0.5]);
  assertEquals(
    verdictOf({ a: "x", b: "y" }, same, NaN),
    "no test: the per-seed differences are identical",
  );
  assertEquals(
    verdictOf({ a: "x", b: "y" }, t, 0.01),
    "x better (p < 0.05 after Holm)",
  );
});

Deno.test("the report, plot and JSON carry the arms and p-values", () => {
  const arms = [0, 1, 2].flatMap((s) => [
    result("none", s, 40 + s),
    result("cnn-inn", s, 45 + 2 * s),
  ]);
  const md = fairReportMarkdown(input(arms));
  assert(md.includes("| `cnn-inn` − `none`"), md);
  assert(md.includes("paired t p"), md);
  assert(md.includes("Seeds with results: 0, 1, 2"), md);
  const svg = fairReportSvg(input(arms));
  assertEquals(svg.match(/<circle /g)?.length, 3);
  assert(!svg.includes("NaN"), svg);
  assert(svg.includes('stroke="#333"'), "the zero line is drawn");
  const json = fairReportJson(input(arms)) as { test: { p: number }[] };
  assertEquals(json.test.length, 1);
  assert(json.test[0].p < 0.05);
});
