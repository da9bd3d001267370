// Helpers shared by the wasm kernel tests: seeded inputs as plain arrays (so
// the same values can be built on each backend) and a tolerance check.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerWasmTrainingKernels } from "./register.ts";

/** Plain values that can be rebuilt as a tensor on any backend. */
export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

/** Deterministic values in [-scale, scale) from a small PRNG (mulberry32). */
export function seeded(shape: number[], seed: number, scale = 1): HostTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    values[i] = (unit * 2 - 1) * scale;
  }
  return { shape, values };
}

/** The host tensor as a tensor on the current backend. */
export function toTensor(host: HostTensor): tf.Tensor {
  return tf.tensor(host.values, host.shape, "float32");
}

/**
 * Runs `compute` on `backend` (registering the wasm training kernels first)
 * and returns its outputs as plain values; every tensor made is disposed.
 */
export async function onBackend(
  backend: "cpu" | "wasm" | "webgpu",
  compute: () => tf.Tensor | tf.Tensor[],
): Promise<HostTensor[]> {
  registerWasmTrainingKernels();
  if (!(await tf.setBackend(backend))) {
    throw new Error(`backend ${backend} failed to start`);
  }
  await tf.ready();
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const result: HostTensor[] = [];
  for (const t of list) {
    result.push({
      shape: [...t.shape],
      values: new Float32Array(await t.data()),
    });
  }
  tf.dispose(list);
  return result;
}

/** Absolute and relative tolerance: |a - e| <= atol + rtol·|e|. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Fails naming the first element out of tolerance, with both values. */
export function assertAllClose(
  actual: HostTensor,
  expected: HostTensor,
  tolerance: Tolerance,
  label: string,
): void {
  if (actual.shape.join(",") !== expected.shape.join(",")) {
    throw new Error(
      `${label}: shape [${actual.shape}] differs from expected [${expected.shape}]`,
    );
  }
  for (let i = 0; i < expected.values.length; i++) {
    const a = actual.values[i];
    const e = expected.values[i];
    const limit = tolerance.atol + tolerance.rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= limit)) {
      throw new Error(
        `${label}: element ${i} is ${a}, expected ${e} (|diff| ${
          Math.abs(a - e)
        } > ${limit}, rtol ${tolerance.rtol}, atol ${tolerance.atol})`,
      );
    }
  }
}

/** Runs `compute` on cpu and on wasm and checks every output agrees. */
export async function assertWasmMatchesCpu(
  label: string,
  compute: () => tf.Tensor | tf.Tensor[],
  tolerance: Tolerance,
): Promise<void> {
  const expected = await onBackend("cpu", compute);
  const actual = await onBackend("wasm", compute);
  if (actual.length !== expected.length) {
    throw new Error(`${label}: ${actual.length} outputs vs ${expected.length}`);
  }
  actual.forEach((a, i) =>
    assertAllClose(a, expected[i], tolerance, `${label} output ${i}`)
  );
}
