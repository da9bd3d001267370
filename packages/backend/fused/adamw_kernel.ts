import type * as tf from "@tensorflow/tfjs";
import {
  floatOffset,
  type FusedBackend,
  heapOf,
  requireFloat,
  requireSameShape,
  sizeOf,
  wasmConfig,
} from "./heap_kernel.ts";
import type { AdamWUpdateConstants } from "../webgpu/adamw_update.ts";
import { heapMemory, release } from "../native/heap.ts";
import { ADAMW_CONSTANTS, adamwSimd } from "../wasm_simd/adamw_simd.ts";

/** Kernel name: one AdamW update of a variable; outputs the new value, m and v. */
export const ADAMW_STEP = "VitkdAdamWStep";

/** The constants of one AdamW update of one variable, as the kernel's attributes. */
export interface AdamWStepConstants extends AdamWUpdateConstants {
  /** Decoupled weight decay (0: none). */
  weightDecay: number;
}

/**
 * `m' = b1 m + (1 - b1) g`, `v' = b2 v + (1 - b2) g²`,
 * `p' = p - lr (m'/c1 / (sqrt(v'/c2) + eps) + wd p)`, with `g` the gradient
 * times the optional one-value `scale`: one pass over the heap in float64
 * (WebAssembly SIMD, two values at a time, where it runs), where the
 * composed update is about fourteen kernels a variable.
 */
export const adamwStepConfig: tf.KernelConfig = wasmConfig(
  ADAMW_STEP,
  (inputs, attrs, backend) => {
    const { param, grad, m, v, scale } = inputs;
    checkItem(ADAMW_STEP, "", { param, grad, m, v });
    const outs = [param, m, v].map((t) =>
      backend.makeOutput([...t.shape], "float32")
    );
    const c = attrs as unknown as AdamWStepConstants;
    updateOnHeap(
      backend,
      [{ param, grad, m, v, outs }],
      c,
      [c.weightDecay],
      scale,
    );
    return outs;
  },
);

/**
 * Kernel name: one AdamW update of many variables, each written in place;
 * outputs one empty tensor.
 */
export const ADAMW_STEP_IN_PLACE = "VitkdAdamWStepInPlace";

/** The constants of {@linkcode ADAMW_STEP_IN_PLACE}: one weight decay a variable. */
export interface AdamWInPlaceConstants extends AdamWUpdateConstants {
  /** Decoupled weight decay of each variable, in order (0: none). */
  weightDecays: number[];
}

/**
 * {@linkcode ADAMW_STEP}'s update of variables `p0, p1, ...` with gradients
 * `g0, ...` and moments `m0, v0, ...`, written over the parameters and
 * moments themselves (the caller makes sure no other tensor shares their
 * buffers): one kernel call a step, where the per-variable kernel made three
 * new tensors a variable for the optimizer to assign.
 */
export const adamwStepInPlaceConfig: tf.KernelConfig = wasmConfig(
  ADAMW_STEP_IN_PLACE,
  (inputs, attrs, backend) => {
    const c = attrs as unknown as AdamWInPlaceConstants;
    const count = c.weightDecays?.length ?? 0;
    const items: HeapItem[] = [];
    for (let i = 0; i < count; i++) {
      const [param, grad, m, v] = ["p", "g", "m", "v"].map((k) =>
        inputs[`${k}${i}`]
      );
      checkItem(ADAMW_STEP_IN_PLACE, String(i), { param, grad, m, v });
      items.push({ param, grad, m, v, outs: [param, m, v] });
    }
    const empty = backend.makeOutput([0], "float32");
    updateOnHeap(backend, items, c, c.weightDecays, inputs.scale);
    return empty;
  },
);

interface HeapItem {
  param: tf.TensorInfo;
  grad: tf.TensorInfo;
  m: tf.TensorInfo;
  v: tf.TensorInfo;
  /** Where the new parameter, m and v go (the inputs themselves: in place). */
  outs: tf.TensorInfo[];
}

function checkItem(
  kernel: string,
  suffix: string,
  tensors: Record<"param" | "grad" | "m" | "v", tf.TensorInfo | undefined>,
): void {
  for (const [name, t] of Object.entries(tensors)) {
    requireFloat(kernel, `${name}${suffix}`, t);
  }
  const { param, grad, m, v } = tensors as Record<string, tf.TensorInfo>;
  const named = (name: string) => `${name}${suffix}`;
  requireSameShape(kernel, [named("param"), named("grad")], param, grad);
  requireSameShape(kernel, [named("param"), named("m")], param, m);
  requireSameShape(kernel, [named("param"), named("v")], param, v);
}

// Each item's update over the heap: the SIMD kernel for the pairs, the
// float64 loop it mirrors for what it leaves (or for all, without SIMD).
// Reads of a value come before its writes, so outputs may be the inputs.
function updateOnHeap(
  backend: FusedBackend,
  items: HeapItem[],
  c: AdamWUpdateConstants,
  weightDecays: readonly number[],
  scale: tf.TensorInfo | undefined,
): void {
  const simd = adamwSimd(heapMemory(backend));
  const constants = simd
    ? backend.makeOutput([2 * ADAMW_CONSTANTS], "float32")
    : undefined;
  // offsets after the last allocation: the heap may have grown
  const heap = heapOf(backend);
  let s = 1;
  if (scale) {
    requireFloat(ADAMW_STEP, "scale", scale);
    s = heap[floatOffset(backend, scale)];
  }
  const { beta1, beta2, correction1, correction2, epsilon } = c;
  const lr = c.learningRate;
  const view = constants &&
    new DataView(heap.buffer, floatOffset(backend, constants) * 4);
  items.forEach((item, k) => {
    const wd = weightDecays[k];
    const size = sizeOf(item.param.shape);
    const [pAt, gAt, mAt, vAt] = [item.param, item.grad, item.m, item.v]
      .map((t) => floatOffset(backend, t));
    const [pOut, mOut, vOut] = item.outs.map((t) => floatOffset(backend, t));
    let start = 0;
    if (simd && view && size >= 2) {
      [s, beta1, 1 - beta1, beta2, 1 - beta2, correction1, correction2]
        .concat([epsilon, wd, lr])
        .forEach((value, j) => view.setFloat64(8 * j, value, true));
      const pairs = size >> 1;
      simd(
        pAt * 4,
        gAt * 4,
        mAt * 4,
        vAt * 4,
        pOut * 4,
        mOut * 4,
        vOut * 4,
        view.byteOffset,
        pairs,
      );
      start = 2 * pairs;
    }
    for (let i = start; i < size; i++) {
      const g = heap[gAt + i] * s;
      const mi = beta1 * heap[mAt + i] + (1 - beta1) * g;
      const vi = beta2 * heap[vAt + i] + (1 - beta2) * g * g;
      const p = heap[pAt + i];
      const update = mi / correction1 /
          (Math.sqrt(vi / correction2) + epsilon) + wd * p;
      heap[mOut + i] = mi;
      heap[vOut + i] = vi;
      heap[pOut + i] = p - lr * update;
    }
  });
  if (constants) release(backend, constants);
}
