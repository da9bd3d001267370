// Every task in tasks/ answers --help and -h with its usage, at once and
// without starting work, and refuses an unknown flag with exit status 2 and a
// message naming it (tasks/_cli.ts). Each task runs in a subprocess.
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { parseTaskArgs, taskUsage } from "../tasks/_cli.ts";
import { runDeno } from "./_deno_run.ts";

const TASKS = [
  "bench_backend",
  "bench_conv",
  "bench_data",
  "bench_distill",
  "bench_fused",
  "bench_gpu",
  "bench_models",
  "bench_native",
  "bench_peer",
  "bench_serve",
  "bench_store",
  "heap_check_serve",
  "profile_gpu",
  "profile_models",
  "soak_serve",
];
/** Generous for a shared machine: printing the usage takes well under 1 s. */
const QUICK_MS = 30_000;

function runTask(task: string, args: string[]) {
  return runDeno(["run", "-A", `tasks/${task}.ts`, ...args]);
}

for (const task of TASKS) {
  Deno.test(`tasks/${task}.ts: --help and -h print the usage, an unknown flag exits 2`, async () => {
    for (const help of ["--help", "-h"]) {
      const { code, stdout, ms } = await runTask(task, [help]);
      assertEquals(code, 0, `${task} ${help}`);
      // Only the usage: it starts with the command and ends with the flags.
      assertMatch(stdout, /^deno (task|run) \S.* \[options\]/);
      assertStringIncludes(stdout, "-h, --help");
      assertEquals(
        stdout.trim().split("\n").filter((l) =>
          /machine:|backend:|adapter:/.test(l)
        ),
        [],
        `${task} started work`,
      );
      assert(ms < QUICK_MS, `${task} ${help} took ${ms.toFixed(0)} ms`);
    }
    const bad = await runTask(task, ["--no-such-flag", "1"]);
    assertEquals(bad.code, 2, `${task} --no-such-flag`);
    assertStringIncludes(bad.stderr, "unknown flag --no-such-flag");
    assertEquals(bad.stdout, "");
  });
}

Deno.test("parseTaskArgs: defaults, switches, and arguments after --", () => {
  const spec = {
    command: "deno run -A tasks/example.ts",
    summary: "An example.",
    flags: {
      size: { arg: "N", default: "4", help: "a size" },
      root: { arg: "DIR", help: "a folder" },
      fast: { help: "a switch" },
      check: { default: true, negatable: true, help: "checks (default on)" },
    },
    rest: "[-- MORE]",
  } as const;
  const { args } = parseTaskArgs(spec, ["--fast", "--no-check", "--", "--x"]);
  assertEquals(args.size, "4");
  assertEquals(args.root, undefined);
  assertEquals(args.fast, true);
  assertEquals(args.check, false);
  assertEquals(args._, ["--x"]);
  const usage = taskUsage(spec);
  assertStringIncludes(
    usage,
    "deno run -A tasks/example.ts [options] [-- MORE]",
  );
  assertStringIncludes(usage, "--size N");
  assertStringIncludes(usage, "a size (default 4)");
  assertStringIncludes(usage, "--[no-]check");
  assertStringIncludes(usage, "checks (default on)\n");
});
