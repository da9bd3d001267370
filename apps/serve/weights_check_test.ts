import { assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { loadRunner } from "./model.ts";
import { saveTinyStudent } from "./testing.ts";

await initBackend({ backend: "wasm" });

Deno.test("a weights.bin altered after saving (same size) is refused, naming the file", async () => {
  const root = await Deno.makeTempDir({ prefix: "vitkd-weights-" });
  try {
    const dir = await saveTinyStudent(root);
    const runner = await loadRunner(dir);
    runner.dispose();
    const path = `${dir}/weights.bin`;
    const bytes = await Deno.readFile(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    await Deno.writeFile(path, bytes);
    assertEquals((await Deno.stat(path)).size, bytes.length);
    await assertRejects(
      () => loadRunner(dir),
      Error,
      `${dir}/weights.bin does not match meta.json: weight fingerprint`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
