import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { type BackendChoice, initBackend } from "./init.ts";
import { BackendError } from "./errors.ts";

Deno.test("an unknown backend or native option is a BackendError naming the choices", async () => {
  const backend = await assertRejects(
    () => initBackend({ backend: "tpu" as BackendChoice }),
    BackendError,
    'unknown backend "tpu": expected one of auto, webgpu, wasm, cpu',
  );
  assertEquals(backend.code, "unknown-backend");
  const native = await assertRejects(
    () => initBackend({ backend: "cpu", native: "maybe" as "on" }),
    BackendError,
    'unknown native option "maybe"',
  );
  assertEquals(native.code, "bad-option");
});

Deno.test("native: on without a usable BLAS is a BackendError that says why", async () => {
  // A process of its own: the BLAS library, once opened, stays loaded, and
  // giving up --allow-ffi is for good.
  const script = `
    import { BackendError, initBackend } from "@vitkd/backend";
    await Deno.permissions.revoke({ name: "ffi" });
    try {
      await initBackend({ backend: "wasm", native: "on" });
      console.log("started");
    } catch (error) {
      if (!(error instanceof BackendError)) throw error;
      console.log(error.code + " " + error.message);
    }`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertMatch(
    stdout,
    /^native-unavailable native BLAS was required but is unavailable: no --allow-ffi/m,
  );
});
