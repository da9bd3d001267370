import * as tf from "@tensorflow/tfjs";
import {
  floatOffset,
  type FusedBackend,
  heapOf,
  requireFloat,
  requireSameShape,
  sizeOf,
  wasmConfig,
} from "./heap_kernel.ts";
import type { Tensor } from "../tf_types.ts";

/** Kernel name: moving averages of several pairs; one output per pair. */
export const MOVING_AVERAGES = "VitkdMovingAverages";

/**
 * `target - (target - value) · factor` for inputs `t0, v0, t1, v1, ...`
 * (attribute `factor`), each step rounded to float32 as the composed
 * `tf.sub`/`tf.mul` round it: one kernel call for all of them, where the
 * composed update took three a pair (batch norm's moving mean and variance:
 * 54 kernel calls of a ResNet-8 step).
 */
export const movingAveragesConfig: tf.KernelConfig = wasmConfig(
  MOVING_AVERAGES,
  (inputs, attrs, backend) => {
    const factor = Math.fround(attrs.factor as number);
    const pairs = Object.keys(inputs).length / 2;
    const outs: tf.TensorInfo[] = [];
    for (let k = 0; k < pairs; k++) {
      const [t, v] = [inputs[`t${k}`], inputs[`v${k}`]];
      requireFloat(MOVING_AVERAGES, `t${k}`, t);
      requireFloat(MOVING_AVERAGES, `v${k}`, v);
      requireSameShape(MOVING_AVERAGES, [`t${k}`, `v${k}`], t, v);
      outs.push(backend.makeOutput([...t.shape], "float32"));
    }
    // offsets after the last allocation: the heap may have grown
    outs.forEach((out, k) =>
      movingAverageOnHeap(
        backend,
        inputs[`t${k}`],
        inputs[`v${k}`],
        out,
        factor,
      )
    );
    return outs;
  },
);

/**
 * `out = target - (target - value) · factor` over the heap, each step
 * rounded to float32 as the composed `tf.sub`/`tf.mul` round it; `out` may
 * be `target` (an update in place). `factor` must already be a float32.
 */
export function movingAverageOnHeap(
  backend: FusedBackend,
  target: tf.TensorInfo,
  value: tf.TensorInfo,
  out: tf.TensorInfo,
  factor: number,
): void {
  const heap = heapOf(backend);
  const tAt = floatOffset(backend, target);
  const vAt = floatOffset(backend, value);
  const oAt = floatOffset(backend, out);
  for (let i = 0, n = sizeOf(out.shape); i < n; i++) {
    const t = heap[tAt + i];
    heap[oAt + i] = t - Math.fround(Math.fround(t - heap[vAt + i]) * factor);
  }
}

/** Whether {@linkcode movingAverages} is one kernel on the active backend. */
export function hasMovingAverages(): boolean {
  return tf.getKernel(MOVING_AVERAGES, tf.getBackend()) !== undefined;
}

/**
 * `target - (target - value) · factor` for each pair, as new tensors: one
 * kernel call where the backend has it (wasm), else the composed ops. The
 * same values either way. For batch norm's moving statistics (factor =
 * 1 - momentum) outside any gradient.
 *
 * @param targets The current averages.
 * @param values The new values, in the same order and shapes.
 * @param factor The weight of the new values.
 * @returns The new averages.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend, movingAverages } from "@vitkd/backend";
 *
 * await initBackend({ backend: "cpu" });
 * const [mean] = movingAverages([tf.zeros([2])], [tf.ones([2])], 0.1);
 * mean.print(); // [0.1, 0.1]
 * ```
 */
export function movingAverages(
  targets: readonly Tensor[],
  values: readonly Tensor[],
  factor: number,
): Tensor[] {
  if (targets.length !== values.length) {
    throw new Error(
      `movingAverages: ${targets.length} targets for ${values.length} values`,
    );
  }
  if (!hasMovingAverages()) {
    return targets.map((t, k) =>
      tf.tidy(() => tf.sub(t, tf.mul(tf.sub(t, values[k]), factor)))
    );
  }
  const inputs: tf.NamedTensorMap = {};
  targets.forEach((t, k) => {
    inputs[`t${k}`] = t;
    inputs[`v${k}`] = values[k];
  });
  const out = tf.engine().runKernel(MOVING_AVERAGES, inputs, { factor });
  return Array.isArray(out) ? out as Tensor[] : [out as Tensor];
}
