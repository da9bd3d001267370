// Synchronous tensor reads (`dataSync`, `arraySync`, `bufferSync`)
// throw on Deno's WebGPU backend: they read through an OffscreenCanvas 2D
// context Deno does not have. Library and app code must read asynchronously;
// tests may read synchronously on the cpu and wasm backends.
import { assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname;
const SYNC_READ = /\.(dataSync|arraySync|bufferSync)\s*\(/;

function isTestFile(name: string): boolean {
  return /_test\.ts$/.test(name) || /(^|\/)_test_[^/]*\.ts$/.test(name) ||
    /(^|\/)_?testing\.ts$/.test(name);
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts") && !isTestFile(path)) yield path;
  }
}

/** Every `file:line: text` of a synchronous read outside tests. */
async function syncReads(): Promise<string[]> {
  const found: string[] = [];
  for (const top of ["packages", "apps"]) {
    for await (const path of sources(`${ROOT}${top}`)) {
      const lines = (await Deno.readTextFile(path)).split("\n");
      lines.forEach((line, i) => {
        if (SYNC_READ.test(line) && !/^\s*(\/\/|\*)/.test(line)) {
          found.push(`${path.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
  }
  return found;
}

Deno.test("no synchronous tensor reads in packages/ and apps/ outside tests", async () => {
  assertEquals(await syncReads(), []);
});

Deno.test("the synchronous-read check finds a read it is shown", () => {
  assertEquals(SYNC_READ.test("const v = loss.dataSync()[0];"), true);
  assertEquals(SYNC_READ.test("const v = (await loss.data())[0];"), false);
  assertEquals(isTestFile("packages/distill/loop_test.ts"), true);
  assertEquals(isTestFile("packages/distill/loop.ts"), false);
});
