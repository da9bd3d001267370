import { assert, assertEquals, assertMatch } from "@std/assert";
import { BackendError } from "@vitkd/backend";
import { DataError } from "@vitkd/data";
import { DistillError } from "@vitkd/distill";
import { LogitStoreError } from "@vitkd/logit-store";
import { ModelError } from "@vitkd/models";
import { StageOrderError } from "./context.ts";
import {
  ERROR_TABLE,
  EXIT_CODES,
  exitCodeOf,
  exitCodesHelp,
  reportFailure,
  RunFolderError,
  UsageError,
} from "./errors.ts";

Deno.test("each typed error has its own exit code; anything else is 1", () => {
  const cases: [Error, number][] = [
    [new UsageError("--epochs: bad"), 2],
    [new StageOrderError("run teachers first"), 2],
    [new DataError("truncated", "a.idx"), 3],
    [new LogitStoreError("x.vkl: bad magic"), 4],
    [new ModelError("m/meta.json missing", { code: "not-found" }), 5],
    [new DistillError("checkpoint corrupt", { code: "corrupt" }), 6],
    [new BackendError("no adapter"), 7],
    [new RunFolderError("run.json missing"), 8],
    [new TypeError("x is undefined"), 1],
  ];
  for (const [error, code] of cases) {
    assertEquals(exitCodeOf(error), code, error.name);
  }
  assertEquals(exitCodeOf("a thrown string"), 1);
  const codes = ERROR_TABLE.map((row) => row.code);
  assertEquals(new Set(codes).size, codes.length, "one code per row");
});

Deno.test("reportFailure: a typed error is one labelled line, an unexpected one its stack", () => {
  const lines: string[] = [];
  const output = {
    log: (line: string) => lines.push(line),
    command: "deno task train",
    stack: false,
  };
  assertEquals(
    reportFailure(new DataError("truncated IDX file", "/d/x.idx"), output),
    3,
  );
  assertEquals(lines, ["data error: /d/x.idx: truncated IDX file"]);
  lines.length = 0;
  assertEquals(reportFailure(new UsageError("--epochs: bad"), output), 2);
  assertEquals(lines, [
    "usage error: --epochs: bad",
    "(try: deno task train --help)",
  ]);
  lines.length = 0;
  assertEquals(
    reportFailure(new TypeError("x is undefined"), {
      ...output,
      prefix: "serve: ",
    }),
    1,
  );
  assertEquals(lines[0], "serve: unexpected error: TypeError: x is undefined");
  assert(lines.slice(1).every((line) => line.startsWith("serve: ")));
  assertMatch(lines[1], /^serve: {5}at /);
});

Deno.test("the --help text lists every exit code with its error", () => {
  const help = exitCodesHelp();
  for (const code of Object.values(EXIT_CODES)) {
    assertMatch(help, new RegExp(`^  ${code} +\\S`, "m"));
  }
  assertMatch(help, /^ {2}3 +data error \(a DataError\)$/m);
  assertEquals(
    exitCodesHelp([EXIT_CODES.ok, EXIT_CODES.model]).split("\n"),
    ["Exit codes:", "  0    done", "  5    model error (a ModelError)"],
  );
});
