import { assert, assertEquals } from "@std/assert";
import { escapeXml, niceTicks, renderCurvesSvg } from "./curves_svg.ts";

Deno.test("niceTicks gives round steps covering the range", () => {
  assertEquals(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assertEquals(niceTicks(1, 10, 9), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assertEquals(niceTicks(3, 3), [3]);
});

Deno.test("renderCurvesSvg draws a panel per chart and a shared legend", () => {
  const svg = renderCurvesSvg([
    {
      title: "loss",
      xLabel: "epoch",
      yLabel: "loss",
      series: [
        { name: "teacher <a&b>", points: [[1, 2.3], [2, 1.1], [3, NaN]] },
        { name: "student", points: [[1, 2], [2, 1.5]] },
      ],
    },
    {
      title: "accuracy",
      xLabel: "epoch",
      yLabel: "accuracy",
      yRange: [0, 1],
      series: [{ name: "student", points: [[1, 0.5], [2, 0.7]] }],
    },
  ]);
  assert(svg.startsWith("<?xml"));
  assert(svg.trimEnd().endsWith("</svg>"));
  assertEquals((svg.match(/<path /g) ?? []).length, 3);
  // the NaN point is dropped: 2 + 2 + 2 circles
  assertEquals((svg.match(/<circle /g) ?? []).length, 6);
  assert(svg.includes(escapeXml("teacher <a&b>")));
  assert(!svg.includes("<a&b>"));
  // the student keeps its colour in both panels
  const colours = [
    ...svg.matchAll(/<path d="[^"]*" fill="none" stroke="(#[0-9a-f]+)"/g),
  ]
    .map((m) => m[1]);
  assertEquals(colours[1], colours[2]);
  assert(colours[0] !== colours[1]);
});
