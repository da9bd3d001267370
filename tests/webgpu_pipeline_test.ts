// The whole pipeline on Deno's WebGPU, end to end, against the same run on
// wasm: `deno task train --backend webgpu` (teachers, precompute, distill,
// eval) and one prediction from `deno task serve --backend webgpu`. Here the
// adapter is usually Mesa's llvmpipe (software): slow (shader compilation
// takes most of the few minutes), but the same programs a GPU runs.
import { assert, assertEquals } from "@std/assert";
import { openStore } from "@vitkd/logit-store";
import { loadRunState } from "../apps/train/run_folder.ts";
import { encodePng } from "../apps/serve/testing.ts";
import type { PredictResponse } from "@vitkd/serve";

const ROOT = new URL("..", import.meta.url).pathname;
const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
const ignore = !(await gpu?.requestAdapter());
if (ignore) {
  console.log("webgpu_pipeline_test: skipped, Deno offers no WebGPU adapter");
}

// Stated tolerances. Both runs start from the same seeded weights and see
// the same batches; they part by float rounding (GPU reductions sum in
// another order). Adam's first steps are about ±lr whatever the gradient's
// size, so a rounding-level difference in a near-zero gradient becomes a
// full step: after the teachers' 5 steps the stored logits differed by
// 0.95 % of the largest logit when this was measured (llvmpipe).
const LOGIT_TOLERANCE = 0.03; // of the largest |logit| in the store
const ACCURACY_TOLERANCE = 1 / 30; // one of the 30 test images

const TINY = [
  "--per-class",
  "5",
  "--test-per-class",
  "3",
  "--teacher-epochs",
  "1",
  "--teacher-batch-size",
  "10",
  "--batch-size",
  "10",
  "--epochs",
  "1",
  "--dim",
  "16",
  "--depth",
  "1",
  "--heads",
  "2",
  "--mlp-dim",
  "32",
  "--views",
  "1",
  "--no-baseline",
];

async function train(
  backend: string,
  runsDir: string,
  env: Record<string, string> = {},
): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      `${ROOT}apps/train/main.ts`,
      ...TINY,
      "--backend",
      backend,
      "--runs-dir",
      runsDir,
      "--name",
      backend,
    ],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, `train --backend ${backend}:\n${text}`);
  assert(!text.includes("webgpu: the device reported an error"), text);
}

async function storedLogits(run: string): Promise<Float32Array[]> {
  const reader = await openStore(`${run}/logits.vkl`);
  try {
    const { dataset, views, teachers, numClasses: classes } = reader.header;
    const images = dataset.count;
    const indices = Array.from({ length: images * views }, (_, i) => i);
    const imageIndices = indices.map((i) => Math.floor(i / views));
    const viewIndices = indices.map((i) => i % views);
    const out = teachers.map(() => new Float32Array(indices.length * classes));
    reader.readBatch(imageIndices, viewIndices, out);
    return out;
  } finally {
    reader.close();
  }
}

async function predictOnce(model: string, backend: string) {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      "--allow-ffi",
      "--allow-sys",
      `${ROOT}apps/serve/main.ts`,
      "--model",
      model,
      "--backend",
      backend,
      "--port",
      "0",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let url: string | undefined;
    for (let i = 0; i < 1000 && !url; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      url = text.match(/listening on (http:\/\/\S+?)\/?\s/)?.[1];
    }
    assert(url, `serve --backend ${backend} did not start:\n${text}`);
    const response = await fetch(`${url}/v1/predict`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: encodePng(28, 28, 1, (x, y) => (x * 37 + y * 11) % 256),
    });
    const body = await response.json();
    assertEquals(response.status, 200, JSON.stringify(body));
    reader.cancel();
    return body as PredictResponse;
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
}

Deno.test({
  name: "webgpu: train and serve end to end; logits and accuracies match wasm",
  ignore,
  fn: async () => {
    const runsDir = await Deno.makeTempDir({ prefix: "vitkd-webgpu-" });
    try {
      await train("webgpu", runsDir);
      // The reference runs wasm's own kernels: oneDNN's batch norm sums in
      // float32 over its threads, and that rounding alone moved teacher 0's
      // stored logits by 4.6 % between one thread and two (measured), where
      // wasm's float64 sums and WebGPU's agreed to 0.01 %.
      await train("wasm", runsDir, { VITKD_DNNL: "0" });
      const gpuState = await loadRunState(`${runsDir}/webgpu`);
      const wasmState = await loadRunState(`${runsDir}/wasm`);
      assert(gpuState.complete && wasmState.complete);

      const gpuLogits = await storedLogits(`${runsDir}/webgpu`);
      const wasmLogits = await storedLogits(`${runsDir}/wasm`);
      gpuLogits.forEach((logits, t) => {
        let scale = 0;
        let worst = 0;
        wasmLogits[t].forEach((v, i) => {
          scale = Math.max(scale, Math.abs(v));
          worst = Math.max(worst, Math.abs(logits[i] - v));
        });
        assert(
          worst <= LOGIT_TOLERANCE * scale,
          `teacher ${t}: stored logits differ by ${worst} (largest ${scale})`,
        );
      });

      const report = (dir: string) =>
        Deno.readTextFile(`${runsDir}/${dir}/report.md`);
      const accuracies = (text: string) =>
        [...text.matchAll(/(\d+\.\d+) %/g)].map((m) => Number(m[1]) / 100);
      const gpuAcc = accuracies(await report("webgpu"));
      const wasmAcc = accuracies(await report("wasm"));
      assert(gpuAcc.length > 0 && gpuAcc.length === wasmAcc.length);
      gpuAcc.forEach((a, i) =>
        assert(
          Math.abs(a - wasmAcc[i]) <= ACCURACY_TOLERANCE + 1e-9,
          `accuracy ${i}: webgpu ${a}, wasm ${wasmAcc[i]}`,
        )
      );

      const gpuPrediction = await predictOnce(
        `${runsDir}/webgpu/student`,
        "webgpu",
      );
      const wasmPrediction = await predictOnce(
        `${runsDir}/webgpu/student`,
        "wasm",
      );
      // the same saved student on both backends: only rounding differs
      assertEquals(
        gpuPrediction.top.map((c) => c.index),
        wasmPrediction.top.map((c) => c.index),
      );
      gpuPrediction.top.forEach((c, i) =>
        assert(
          Math.abs(c.probability - wasmPrediction.top[i].probability) < 1e-4,
          JSON.stringify([gpuPrediction.top, wasmPrediction.top]),
        )
      );
    } finally {
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});
