import { assertEquals, assertThrows } from "@std/assert";
import { parseCommandLine, UsageError } from "./cli.ts";
import { resumeBackend } from "./pipeline.ts";
import { presetConfig } from "./presets.ts";

function run(backend: string | undefined) {
  const config = presetConfig("quick");
  config.backend = "auto";
  return { name: "r1", backend, config };
}

Deno.test("resume without --backend keeps the backend the run ran on", () => {
  const cpu = run("cpu (asked for)");
  assertEquals(resumeBackend(cpu, parseCommandLine(["--resume"])), "cpu");
  assertEquals(
    resumeBackend(
      run(
        "wasm, simd on, threads off, native off (no library) (auto: no WebGPU adapter)",
      ),
      parseCommandLine(["--resume"]),
    ),
    "wasm",
  );
  // --backend auto is the run's backend too, and naming it is fine
  assertEquals(
    resumeBackend(cpu, parseCommandLine(["--resume", "--backend", "auto"])),
    "cpu",
  );
  assertEquals(
    resumeBackend(cpu, parseCommandLine(["--resume", "--backend", "cpu"])),
    "cpu",
  );
  // a run that never started a stage has no backend yet: its config decides
  assertEquals(resumeBackend(run(undefined), parseCommandLine([])), "auto");
});

Deno.test("resume on another backend is refused, naming the run's", () => {
  assertThrows(
    () =>
      resumeBackend(
        run("cpu (asked for)"),
        parseCommandLine(["--resume", "--backend", "wasm"]),
      ),
    UsageError,
    "run r1 ran on the cpu backend; continuing it on wasm",
  );
});
