import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "@vitkd/backend";
import { normalizeImages } from "@vitkd/data";
import { convertChannels, decodeImage, resizeImage } from "@vitkd/data/image";
import { ModelError, predictProbabilities } from "@vitkd/models";
import { createApp } from "./app.ts";
import type { PredictResponse } from "./routes_v1.ts";
import { loadRunner, warmUp } from "./model.ts";
import { startServer } from "./server.ts";
import {
  encodeJpeg,
  encodePng,
  NORMALIZATION,
  saveTinyStudent,
} from "./testing.ts";

function pattern(x: number, y: number, c: number): number {
  return (x * 29 + y * 13 + c * 71) % 256;
}

Deno.test("loadRunner serves a saved student; HTTP answers equal in-process inference", async () => {
  await initBackend({ backend: "wasm" });
  const root = await Deno.makeTempDir({ prefix: "vitkd-serve-" });
  try {
    const dir = await saveTinyStudent(root);
    const runner = await loadRunner(dir);
    assertEquals(runner.info.name, "tiny-run");
    assertEquals(runner.info.heads, ["class", "distill-1", "distill-2"]);
    const named = await loadRunner(dir, {
      name: "x y",
      teachers: ["resnet8", "rednet8"],
    });
    assertEquals(named.info.heads, ["class", "resnet8", "rednet8"]);
    assertEquals(named.info.name, "x-y");
    named.dispose();
    assertEquals(runner.info.classNames, ["zero", "one", "two"]);
    assertEquals(runner.info.version.length, 12);
    assertEquals(runner.info.architecture, "vit-tiny");
    const served = createApp({ runner });
    const server = startServer(served);
    try {
      // An RGB JPEG of another size: decoded, made grey, resized, normalised.
      const uploads = [
        encodePng(30, 20, 3, pattern),
        encodeJpeg(12, 12, pattern),
        encodePng(12, 12, 1, pattern),
      ];
      for (const bytes of uploads) {
        const res = await fetch(`${server.url}/v1/predict?top_k=3`, {
          method: "POST",
          body: bytes,
          headers: {
            "content-type": bytes[0] === 0x89 ? "image/png" : "image/jpeg",
          },
        });
        const body = await res.json() as PredictResponse;
        assertEquals(res.status, 200, JSON.stringify(body));
        const image = resizeImage(
          convertChannels(decodeImage(bytes), 1),
          12,
          12,
        );
        const expected = tf.tidy(() =>
          predictProbabilities(
            runner.model,
            normalizeImages(image.data, 1, 12, 12, 1, NORMALIZATION),
          ).dataSync()
        );
        for (const score of body.top) {
          assertEquals(
            score.probability,
            expected[score.index],
            `class ${score.label}`,
          );
        }
        assertEquals(body.top.length, 3);
        assertEquals(body.heads.length, 3);
      }

      // The protocol endpoint, UINT8 batch and FP32: the same numbers.
      const pixels = Uint8Array.from(
        { length: 2 * 144 },
        (_, i) => (i * 53) % 256,
      );
      const expected = tf.tidy(() =>
        Array.from(
          predictProbabilities(
            runner.model,
            normalizeImages(pixels, 2, 12, 12, 1, NORMALIZATION),
          ).dataSync(),
        )
      );
      const res = await fetch(`${server.url}/v2/models/tiny-run/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          inputs: [{
            name: "image",
            shape: [2, 12, 12, 1],
            datatype: "UINT8",
            data: Array.from(pixels),
          }],
          outputs: [{ name: "probabilities" }],
        }),
      });
      const body = await res.json();
      assertEquals(res.status, 200, JSON.stringify(body));
      assertEquals(body.outputs[0].data, expected);
      const normalised = tf.tidy(() =>
        Array.from(
          normalizeImages(pixels, 2, 12, 12, 1, NORMALIZATION).dataSync(),
        )
      );
      const fp32 = await fetch(`${server.url}/v2/models/tiny-run/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          inputs: [{
            name: "image",
            shape: [2, 12, 12, 1],
            datatype: "FP32",
            data: normalised,
          }],
        }),
      });
      const fp32Body = await fp32.json();
      assertEquals(fp32Body.outputs[0].data, expected);
      assertEquals(fp32Body.outputs[1].data.length, 2);
    } finally {
      await server.shutdown();
      runner.dispose();
      await Deno.remove(root, { recursive: true });
    }
  } catch (error) {
    await Deno.remove(root, { recursive: true }).catch(() => {});
    throw error;
  }
});

Deno.test("tfjs tensors and tensor bytes stay flat over many requests, good and bad", async () => {
  await initBackend({ backend: "wasm" });
  const root = await Deno.makeTempDir({ prefix: "vitkd-serve-" });
  const runner = await loadRunner(await saveTinyStudent(root));
  const server = startServer(createApp({ runner, batching: { maxBatch: 8 } }));
  const png = encodePng(16, 16, 3, pattern);
  const round = () =>
    Promise.all(Array.from({ length: 24 }, async (_, i) => {
      const body = i % 6 === 5 ? png.slice(0, 40) : png;
      const res = await fetch(`${server.url}/v1/predict`, {
        method: "POST",
        body,
        headers: { "content-type": "image/png" },
      });
      await res.body?.cancel();
      return res.status;
    }));
  try {
    const first = await round();
    assertEquals(first.filter((s) => s === 200).length, 20);
    assertEquals(first.filter((s) => s === 400).length, 4);
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let r = 0; r < 5; r++) await round();
    assertEquals(tf.memory().numTensors, tensors);
    assertEquals(tf.memory().numBytes, bytes);
  } finally {
    await server.shutdown();
    runner.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadRunner refuses a damaged model folder, naming what is wrong", async () => {
  await initBackend({ backend: "wasm" });
  const root = await Deno.makeTempDir({ prefix: "vitkd-serve-" });
  try {
    await assertRejects(
      () => loadRunner(`${root}/none`),
      Error,
      "does not exist",
    );
    const dir = await saveTinyStudent(root);
    const metaPath = `${dir}/meta.json`;
    const meta = JSON.parse(await Deno.readTextFile(metaPath));
    await Deno.writeTextFile(
      metaPath,
      JSON.stringify({ ...meta, classNames: ["a", "b"] }),
    );
    const error = await assertRejects(() => loadRunner(dir), ModelError);
    assertMatch(error.message, /3 classes, meta.json names 2/);
    assertEquals(error.code, "mismatch");
    await Deno.writeTextFile(metaPath, JSON.stringify(meta));
    await Deno.remove(`${dir}/weights.bin`);
    const missing = await assertRejects(() => loadRunner(dir), ModelError);
    assertMatch(missing.message, /weights\.bin/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("warmUp runs the model at each batch size, the largest twice", async () => {
  const counts: number[] = [];
  const runner = {
    info: { input: { height: 2, width: 3, channels: 1 } },
    predict(input: { count: number; data: Uint8Array | Float32Array }) {
      assertEquals(input.data.length, input.count * 6);
      counts.push(input.count);
      return Promise.resolve({
        probabilities: new Float32Array(),
        headProbabilities: [],
      });
    },
    dispose() {},
  } as unknown as Parameters<typeof warmUp>[0];
  await warmUp(runner, [32, 1, 32]);
  assertEquals(counts, [1, 32, 32]);
});
