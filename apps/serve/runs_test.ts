import { assertEquals, assertMatch } from "@std/assert";
import {
  findNewestCompleteRun,
  modelNameFrom,
  readRunTeachers,
} from "./runs.ts";

Deno.test("findNewestCompleteRun picks the newest complete run with a student", async () => {
  const root = await Deno.makeTempDir({ prefix: "vitkd-runs-" });
  try {
    assertEquals(await findNewestCompleteRun(`${root}/missing`), {
      skipped: [],
    });
    const make = async (name: string, run: unknown, student = true) => {
      await Deno.mkdir(`${root}/${name}${student ? "/student" : ""}`, {
        recursive: true,
      });
      if (run !== undefined) {
        await Deno.writeTextFile(
          `${root}/${name}/run.json`,
          typeof run === "string" ? run : JSON.stringify(run),
        );
      }
    };
    await make("a", { complete: true, finishedAt: "2026-03-01T10:00:00Z" });
    await make("b", { complete: true, finishedAt: "2026-03-02T10:00:00Z" });
    await make("c", { complete: false, finishedAt: "2026-03-09T10:00:00Z" });
    await make(
      "d",
      { complete: true, finishedAt: "2026-03-09T10:00:00Z" },
      false,
    );
    await make("e", "{ not json");
    await make("f", undefined);
    const search = await findNewestCompleteRun(root);
    assertEquals(search.run?.name, "b");
    assertEquals(search.run?.modelDir, `${root}/b/student`);
    assertEquals(search.skipped.length, 4);
    assertMatch(search.skipped.join("\n"), /c: run is not complete/);
    assertMatch(search.skipped.join("\n"), /d: complete but has no student/);
    assertMatch(search.skipped.join("\n"), /e: run.json is unreadable/);
    assertMatch(search.skipped.join("\n"), /f: run.json is missing/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("modelNameFrom keeps names URL-safe", () => {
  assertEquals(modelNameFrom("quick-2026.11"), "quick-2026.11");
  assertEquals(modelNameFrom("my run/ä"), "my-run");
  assertEquals(modelNameFrom("///"), "model");
});

Deno.test("readRunTeachers reads config.teachers of the run a model folder is in", async () => {
  const root = await Deno.makeTempDir({ prefix: "vitkd-runs-" });
  try {
    await Deno.mkdir(`${root}/r/student`, { recursive: true });
    assertEquals(await readRunTeachers(`${root}/r/student`), undefined);
    await Deno.writeTextFile(
      `${root}/r/run.json`,
      JSON.stringify({
        complete: true,
        config: { teachers: ["resnet8", "rednet8"] },
      }),
    );
    assertEquals(await readRunTeachers(`${root}/r/student/`), [
      "resnet8",
      "rednet8",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
