// The CI summary line (.ci/summary) counts ignored tests apart from passed ones.
import { assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname;

async function summary(log: string): Promise<string> {
  const child = new Deno.Command("bash", {
    args: [".ci/summary"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(log));
  await writer.close();
  const out = await child.output();
  assertEquals(out.code, 0);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test(".ci/summary reports passed, failed and ignored tests", async () => {
  assertEquals(
    await summary(
      "a test ... ok\n\x1b[0m\x1b[32mok\x1b[0m | 30 passed | 0 failed | 2 ignored (9s)\n",
    ),
    "tests: 30 passed, 0 failed, 2 ignored",
  );
  assertEquals(
    await summary("FAILED | 3 passed | 1 failed (1s)\n"),
    "tests: 3 passed, 1 failed, 0 ignored",
  );
  assertEquals(await summary("no summary here\n"), "");
});
