import * as tf from "@tensorflow/tfjs";
import { assert } from "@std/assert";
import { type BackendChoice, initBackend } from "@vitkd/backend";
import { buildTinyModel, crossEntropyOverHeads } from "./tiny_models.ts";

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return false;
  return (await gpu.requestAdapter()) !== null;
}

const webgpuAvailable = await hasWebGpuAdapter();
if (!webgpuAvailable) {
  console.log(
    "backend parity: skipping webgpu, navigator.gpu offers no adapter here",
  );
}

interface Outcome {
  outputs: Float32Array[];
  grads: Float32Array[];
}

/**
 * Forward (inference) outputs and training-mode gradients of every trainable
 * weight; read asynchronously since webgpu cannot read synchronously in Deno.
 */
async function runOn(
  model: tf.LayersModel,
  initial: tf.Tensor[],
  xValues: Float32Array,
): Promise<Outcome> {
  model.setWeights(initial);
  const { outputs, grads } = tf.tidy(() => {
    const x = tf.tensor4d(xValues, [4, 8, 8, 3]);
    const labels = tf.oneHot(
      tf.tensor1d([0, 1, 2, 3], "int32"),
      4,
    ) as tf.Tensor2D;
    const out = model.predict(x) as tf.Tensor | tf.Tensor[];
    const variables = model.trainableWeights.map((w) =>
      w.read() as tf.Variable
    );
    const { grads } = tf.variableGrads(
      () => crossEntropyOverHeads(model, x, labels, true),
      variables,
    );
    return {
      outputs: Array.isArray(out) ? out : [out],
      grads: variables.map((v) => grads[v.name]),
    };
  });
  const read = (ts: tf.Tensor[]) =>
    Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
  const result = { outputs: await read(outputs), grads: await read(grads) };
  tf.dispose([...outputs, ...grads]);
  return result;
}

function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  tolerance: number,
): void {
  let scale = 1e-3;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert(
    worst <= tolerance * scale,
    `${what}: max difference ${worst} exceeds ${tolerance} x ${scale}`,
  );
}

for (const kind of ["resnet", "rednet", "vit"] as const) {
  for (const backend of ["wasm", "webgpu"] as BackendChoice[]) {
    Deno.test({
      name: `${kind}: forward and backward on ${backend} match cpu`,
      ignore: backend === "webgpu" && !webgpuAvailable,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        await initBackend({ backend: "cpu" });
        const model = buildTinyModel(kind);
        const initial = model.getWeights().map((w) => tf.clone(w));
        const xValues = tf.tidy(() =>
          tf.randomNormal([4, 8, 8, 3], 0, 1, "float32", 8)
            .dataSync() as Float32Array
        );
        try {
          const reference = await runOn(model, initial, xValues);
          await initBackend({ backend });
          assert(
            tf.getBackend() === backend,
            `running on ${tf.getBackend()}, expected ${backend}`,
          );
          const other = await runOn(model, initial, xValues);
          reference.outputs.forEach((o, i) =>
            assertClose(
              other.outputs[i],
              o,
              `${kind} output ${i} on ${backend}`,
              1e-4,
            )
          );
          reference.grads.forEach((g, i) =>
            assertClose(
              other.grads[i],
              g,
              `${kind} gradient of ${
                model.trainableWeights[i].name
              } on ${backend}`,
              1e-3,
            )
          );
        } finally {
          tf.dispose(initial);
          model.dispose();
          await initBackend({ backend: "cpu" });
        }
      },
    });
  }
}
