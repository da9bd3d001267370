import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  checkModelNames,
  checkPaths,
  distillationTokenCount,
  helpText,
  parseCommandLine,
  UsageError,
} from "./cli.ts";
import { EXIT_CODES, exitCodeOf } from "./errors.ts";

function usageError(args: string[], includes: string): void {
  const error = assertThrows(() => parseCommandLine(args), UsageError);
  assert(
    error.message.includes(includes),
    `expected "${includes}" in: ${error.message}`,
  );
  assertEquals(exitCodeOf(error), EXIT_CODES.usage);
}

Deno.test("no arguments: run with the quick preset", () => {
  const parsed = parseCommandLine([]);
  assertEquals(parsed.options.command, "run");
  assertEquals(parsed.config.preset, "quick");
  assertEquals(parsed.config.dataset.kind, "mnist");
  assertEquals(parsed.help, false);
  assertEquals(parsed.explicit, []);
});

Deno.test("flags override the preset and are recorded as explicit", () => {
  const parsed = parseCommandLine([
    "distill",
    "--preset",
    "mnist",
    "--teachers",
    "resnet8,rednet8,resnet8",
    "--loss=hard",
    "--tau",
    "2.5",
    "--weights",
    "1,0.5,0.5,0.25",
    "--epochs",
    "3",
    "--per-class",
    "all",
    "--no-baseline",
    "--dim",
    "32",
  ]);
  assertEquals(parsed.options.command, "distill");
  assertEquals(parsed.config.preset, "mnist");
  assertEquals(parsed.config.teachers, ["resnet8", "rednet8", "resnet8"]);
  assertEquals(parsed.config.loss, "hard");
  assertEquals(parsed.config.tau, 2.5);
  assertEquals(parsed.config.weights, [1, 0.5, 0.5, 0.25]);
  assertEquals(parsed.config.epochs, 3);
  assertEquals(parsed.config.perClass, null);
  assertEquals(parsed.config.baseline, false);
  assertEquals(parsed.config.student.options.dim, 32);
  assertEquals(distillationTokenCount(parsed.config), 3);
  for (
    const key of ["teachers", "loss", "tau", "epochs", "baseline"] as const
  ) {
    assert(parsed.explicit.includes(key), key);
  }
});

Deno.test("bad flags and values fail with a clear usage error", () => {
  usageError(["--epoch", "3"], "unknown flag --epoch");
  usageError(
    ["--epochs", "three"],
    '--epochs: expected a whole number, got "three"',
  );
  usageError(["--epochs", "0"], "--epochs: expected a number >= 1, got 0");
  usageError(["--lr=-1"], "--lr: expected a number > 0");
  usageError(["--seed", "-1"], "write a negative value as --flag=-1");
  usageError(["--tau", "nan"], "--tau: expected a number");
  usageError(
    ["--loss", "kl"],
    '--loss: unknown value "kl"; expected one of multi',
  );
  usageError(["--preset", "imagenet"], '--preset: unknown preset "imagenet"');
  usageError(["--backend", "cuda"], '--backend: unknown value "cuda"');
  usageError(["--dataset", "image-folder"], "needs --data-path");
  usageError(
    ["--no-augment"],
    "without augmentation would store identical views",
  );
  usageError(["--teachers", "a,,b"], "without empty items");
  usageError(["--weights", "1,1"], "--weights: expected 3 values");
  usageError(["--loss", "ensemble", "--weights", "1,1,1"], "expected 2 values");
  usageError(["--loss", "none", "--teachers", "resnet8"], "drop --teachers");
  usageError(["train"], 'unknown command "train"');
  usageError(["run", "extra"], 'unexpected argument "extra"');
  usageError(
    ["verify", "--epochs", "2", "x.vkl"],
    '--epochs does not apply to "verify"',
  );
  usageError(["verify"], "needs a store path or --name");
  usageError(["merge", "a.vkl"], "merge needs --out");
  usageError(["precompute", "--shard", "3/3"], "--shard: expected I/N");
  usageError(["--name", "../evil"], "--name");
  usageError(["--resume", "--force"], "contradict");
  usageError(["--epochs", "1", "--epochs", "2"], "more than once");
  usageError(["--epochs"], "--epochs: expected a value");
});

Deno.test("--loss none drops the teachers and the baseline", () => {
  const parsed = parseCommandLine(["--loss", "none"]);
  assertEquals(parsed.config.teachers, []);
  assertEquals(parsed.config.baseline, false);
  assertEquals(distillationTokenCount(parsed.config), 0);
});

Deno.test("--help works for every command and skips validation", () => {
  for (
    const command of [
      "run",
      "teachers",
      "precompute",
      "distill",
      "eval",
      "verify",
      "inspect",
      "merge",
    ] as const
  ) {
    const parsed = parseCommandLine([command, "--help"]);
    assert(parsed.help);
    assert(parsed.helpText.startsWith("Usage: deno task train"));
    assertEquals(parsed.helpText, helpText(command));
  }
  const main = parseCommandLine(["-h"]).helpText;
  for (const word of ["cifar10-lowdata", "--teachers", "--resume", "merge"]) {
    assert(main.includes(word), word);
  }
  assert(!main.includes("stop-after-steps"), "hidden flag shown");
});

Deno.test("store subcommands take paths; precompute takes --shard", () => {
  const merge = parseCommandLine([
    "merge",
    "--out",
    "all.vkl",
    "a.vkl",
    "b.vkl",
  ]);
  assertEquals(merge.options.paths, ["a.vkl", "b.vkl"]);
  assertEquals(merge.options.out, "all.vkl");
  const shard = parseCommandLine([
    "precompute",
    "--shard",
    "1/4",
    "--name",
    "r1",
  ]);
  assertEquals(shard.options.shard, { index: 1, count: 4 });
  assertEquals(shard.options.name, "r1");
});

Deno.test("checkPaths names a missing data path or store", async () => {
  const missing = await Deno.makeTempDir() + "/nope";
  const parsed = parseCommandLine([
    "--dataset",
    "image-folder",
    "--data-path",
    missing,
  ]);
  const error = await checkPaths(parsed).then(() => undefined, (e) => e);
  assert(error instanceof UsageError);
  assert(error.message.includes(`--data-path: ${missing} does not exist`));
  const store = parseCommandLine(["verify", missing]);
  await checkPaths(store).then(
    () => {
      throw new Error("expected an error");
    },
    (e) => assert(e.message.includes("store:")),
  );
});

Deno.test("checkModelNames rejects unregistered teachers and students", () => {
  const registered = [
    { name: "resnet8", role: "teacher" as const },
    { name: "rednet8", role: "teacher" as const },
    { name: "vit-tiny", role: "student" as const },
  ];
  const parsed = parseCommandLine(["--teachers", "resnet8,resnt8"]);
  const error = assertThrows(
    () => checkModelNames(parsed.config, registered),
    UsageError,
  );
  assert(error.message.includes('unknown teacher "resnt8"'));
  const student = parseCommandLine(["--student", "resnet8"]);
  assertThrows(
    () => checkModelNames(student.config, registered),
    UsageError,
    'unknown student "resnet8"',
  );
  checkModelNames(
    parseCommandLine(["--student", "vit-tiny"]).config,
    registered,
  );
});
