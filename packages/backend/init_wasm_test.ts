import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "./init.ts";

Deno.test("initBackend wasm starts with SIMD and the training kernels", async () => {
  const info = await initBackend({ backend: "wasm", native: "off" });
  assertEquals(info.name, "wasm");
  assertEquals(tf.getBackend(), "wasm");
  assertEquals(info.wasmSimd, true, "wasm SIMD should be on under Deno");
  for (
    const name of [
      "Conv2DBackpropFilter",
      "ReluGrad",
      "Relu6Grad",
      "LogSoftmax",
    ]
  ) {
    assert(tf.getKernel(name, "wasm"), `${name} not registered on wasm`);
  }
  // A convolution's filter gradient is the kernel stock wasm lacks.
  const grad = tf.tidy(() =>
    tf.grad((f: tf.Tensor) =>
      tf.conv2d(
        tf.ones([1, 4, 4, 1]) as tf.Tensor4D,
        f as tf.Tensor4D,
        1,
        "valid",
      ).sum()
    )(tf.ones([3, 3, 1, 1]))
  );
  assertEquals(Array.from(await grad.data()), new Array(9).fill(4));
  grad.dispose();
});

Deno.test("the wasm binaries load from the npm package without network access", async () => {
  const packageRoot = new URL("../../", import.meta.url);
  const script = `import { initBackend } from "./packages/backend/mod.ts";
const info = await initBackend({ backend: "wasm", native: "off" });
console.log(JSON.stringify(info));`;
  // No --allow-net: any fetch of the .wasm files would fail the child.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-env",
      "--allow-sys",
      "-",
    ],
    cwd: packageRoot,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, `child failed: ${err}`);
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  const info = JSON.parse(lines[lines.length - 1]);
  assertEquals(info.name, "wasm");
  assertEquals(info.wasmSimd, true);
});
