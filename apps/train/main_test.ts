// `deno task train` in a process of its own, with the task's permissions:
// each typed error ends the run with its documented exit code and one line
// that names the file at fault.
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  type DenoRun,
  runDeno,
  taskPermissions,
} from "../../tests/_deno_run.ts";
import { EXIT_CODES } from "./errors.ts";

const PERMISSIONS = taskPermissions("train");

function train(args: string[]): Promise<DenoRun> {
  return runDeno(["run", ...PERMISSIONS, "apps/train/main.ts", ...args]);
}

Deno.test("a corrupt logit store exits 4 with a line naming the store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vitkd-train-main-" });
  try {
    const store = `${dir}/logits.vkl`;
    await Deno.writeFile(store, new TextEncoder().encode("not a store at all"));
    const inspect = await train(["inspect", store]);
    assertEquals(inspect.code, EXIT_CODES.store, inspect.stderr);
    assertMatch(
      inspect.stderr,
      new RegExp(`^logit store error: ${store}: not a vitkd logit store`, "m"),
    );
    assert(!inspect.stderr.includes("    at "), "no stack for a typed error");
    const verify = await train(["verify", store]);
    assertEquals(verify.code, EXIT_CODES.store, verify.stderr);
    assertMatch(verify.stdout, new RegExp(`^BAD ${store}: `, "m"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a data folder without the data set's files exits 3 with a line naming the folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vitkd-train-main-" });
  try {
    await Deno.mkdir(`${dir}/mnist`);
    const result = await train([
      "--dataset",
      "mnist",
      "--data-path",
      `${dir}/mnist`,
      "--runs-dir",
      `${dir}/runs`,
      "--name",
      "no-data",
      "--backend",
      "cpu",
    ]);
    assertEquals(result.code, EXIT_CODES.data, result.stderr);
    assertMatch(
      result.stderr,
      new RegExp(`^data error: ${dir}/mnist: no train images file`, "m"),
    );
    assert(!result.stderr.includes("    at "), "no stack for a typed error");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a usage error exits 2 and points to --help", async () => {
  const result = await train(["--epochs", "zero"]);
  assertEquals(result.code, EXIT_CODES.usage);
  assertEquals(
    result.stderr,
    'usage error: --epochs: expected a whole number, got "zero"\n' +
      "(try: deno task train --help)\n",
  );
});
