import { assertEquals } from "@std/assert";
import { curveCharts } from "./stage_eval.ts";
import { configDifferences } from "./pipeline.ts";
import { parseCommandLine } from "./cli.ts";
import { presetConfig } from "./presets.ts";

Deno.test("curveCharts draws one series per job, last record per epoch wins", () => {
  const charts = curveCharts([
    {
      event: "epoch",
      job: "teacher-resnet8",
      epoch: 1,
      loss: 2,
      accuracy: 0.3,
    },
    {
      event: "epoch",
      job: "teacher-resnet8",
      epoch: 2,
      loss: 1,
      accuracy: 0.6,
    },
    { event: "eval", model: "resnet8", accuracy: 0.9 },
    { event: "epoch", job: "student", epoch: 2, loss: 0.5, accuracy: 0.8 },
    { event: "epoch", job: "student", epoch: 1, loss: 0.9, accuracy: 0.4 },
    // a resumed run may log an epoch again: the last one counts
    { event: "epoch", job: "student", epoch: 2, loss: 0.4, accuracy: 0.85 },
    { event: "epoch", job: "baseline", epoch: 1, loss: 1.5, accuracy: 0.2 },
  ]);
  assertEquals(charts.map((c) => c.title), [
    "training loss",
    "training accuracy",
  ]);
  assertEquals(charts[0].series.map((s) => s.name), [
    "teacher resnet8",
    "student",
    "student without teachers",
  ]);
  assertEquals(charts[0].series[1].points, [[1, 0.9], [2, 0.4]]);
  assertEquals(charts[1].series[0].points, [[1, 0.3], [2, 0.6]]);
  assertEquals(charts[1].yRange, [0, 1]);
});

Deno.test("configDifferences names flags that differ from run.json", () => {
  const stored = presetConfig("quick");
  const same = parseCommandLine([
    "--epochs",
    String(stored.epochs),
    "--backend",
    "cpu",
  ]);
  assertEquals(configDifferences(stored, same), []);
  const other = parseCommandLine(["--epochs", "99", "--tau", "2"]);
  const diffs = configDifferences(stored, other);
  assertEquals(diffs.sort(), [
    `epochs: run.json has ${stored.epochs}, the command line 99`,
    "tau: run.json has 1, the command line 2",
  ]);
});

Deno.test("configDifferences takes a data folder named relatively or absolutely as the same", () => {
  const stored = presetConfig("cifar10-lowdata");
  stored.dataset = { kind: "cifar10-folder", path: Deno.cwd() + "/data/c10" };
  const relative = parseCommandLine([
    "--dataset",
    "cifar10-folder",
    "--data-path",
    "./data/c10",
  ]);
  assertEquals(configDifferences(stored, relative), []);
  const other = parseCommandLine([
    "--dataset",
    "cifar10-folder",
    "--data-path",
    "./data/other",
  ]);
  assertEquals(configDifferences(stored, other).length, 1);
});
