import { assert, assertEquals, assertRejects } from "@std/assert";
import { presetConfig } from "./presets.ts";
import {
  defaultRunName,
  latestUnfinishedRun,
  loadRunState,
  newRunState,
  RunFolderError,
  runPaths,
  saveRunState,
} from "./run_folder.ts";
import { MetricsLog, readMetrics } from "./metrics_log.ts";

Deno.test("run.json round trip and the latest unfinished run", async () => {
  const runs = await Deno.makeTempDir();
  try {
    for (
      const [name, complete] of [["a", false], ["b", true], [
        "c",
        false,
      ]] as const
    ) {
      await Deno.mkdir(`${runs}/${name}`);
      const state = newRunState(name, presetConfig("quick"));
      state.complete = complete;
      await saveRunState(`${runs}/${name}`, state);
      await new Promise((r) => setTimeout(r, 5));
    }
    await Deno.mkdir(`${runs}/not-a-run`);
    const loaded = await loadRunState(`${runs}/a`);
    assertEquals(loaded.name, "a");
    assertEquals(loaded.stages.distill.status, "pending");
    assertEquals(await latestUnfinishedRun(runs), "c");
    assertEquals(await latestUnfinishedRun(`${runs}/missing`), undefined);
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});

Deno.test("loadRunState names what is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => loadRunState(dir),
      RunFolderError,
      "run.json is missing",
    );
    await Deno.writeTextFile(runPaths(dir).runJson, "{not json");
    await assertRejects(
      () => loadRunState(dir),
      RunFolderError,
      "not valid JSON",
    );
    await Deno.writeTextFile(runPaths(dir).runJson, '{"format":"other"}');
    await assertRejects(
      () => loadRunState(dir),
      RunFolderError,
      'expected "vitkd-run"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultRunName uses the preset and UTC time", () => {
  assertEquals(
    defaultRunName("quick", new Date("2026-01-28T05:14:55Z")),
    "quick-20260128-051455",
  );
});

Deno.test("metrics log appends lines and survives a torn last line", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/metrics.jsonl`;
  try {
    const log = MetricsLog.open(path);
    log.write({ event: "epoch", epoch: 1, loss: 0.5 });
    log.close();
    await Deno.writeTextFile(path, '{"event":"ep', { append: true });
    const again = MetricsLog.open(path);
    again.write({ event: "epoch", epoch: 2, loss: 0.25 });
    again.close();
    const { records, skipped } = await readMetrics(path);
    assertEquals(records.map((r) => r.epoch), [1, 2]);
    assertEquals(skipped, 1);
    assert(typeof records[0].time === "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
