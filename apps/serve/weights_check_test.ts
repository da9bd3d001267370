import { assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { ModelError } from "@vitkd/models";
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
    const error = await assertRejects(
      () => loadRunner(dir),
      ModelError,
      `${dir}/weights.bin does not match meta.json: weight fingerprint`,
    );
    assertEquals(error.code, "corrupt");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
