import type * as tf from "@tensorflow/tfjs";
import {
  floatOffset,
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
    for (const [name, t] of Object.entries({ param, grad, m, v })) {
      requireFloat(ADAMW_STEP, name, t);
    }
    requireSameShape(ADAMW_STEP, ["param", "grad"], param, grad);
    requireSameShape(ADAMW_STEP, ["param", "m"], param, m);
    requireSameShape(ADAMW_STEP, ["param", "v"], param, v);
    const c = attrs as unknown as AdamWStepConstants;
    const size = sizeOf(param.shape);
    const outs = [param, m, v].map((t) =>
      backend.makeOutput([...t.shape], "float32")
    );
    const simd = size >= 2 ? adamwSimd(heapMemory(backend)) : undefined;
    const constants = simd
      ? backend.makeOutput([2 * ADAMW_CONSTANTS], "float32")
      : undefined;
    // offsets after the last allocation: the heap may have grown
    const heap = heapOf(backend);
    const [pAt, gAt, mAt, vAt] = [param, grad, m, v].map((t) =>
      floatOffset(backend, t)
    );
    const [pOut, mOut, vOut] = outs.map((t) => floatOffset(backend, t));
    let s = 1;
    if (scale) {
      requireFloat(ADAMW_STEP, "scale", scale);
      s = heap[floatOffset(backend, scale)];
    }
    const { beta1, beta2, correction1, correction2, epsilon } = c;
    const lr = c.learningRate;
    const wd = c.weightDecay;
    let start = 0;
    if (simd && constants) {
      const at = floatOffset(backend, constants) * 4;
      const view = new DataView(heap.buffer, at, 8 * ADAMW_CONSTANTS);
      [s, beta1, 1 - beta1, beta2, 1 - beta2, correction1, correction2]
        .concat([epsilon, wd, lr])
        .forEach((value, k) => view.setFloat64(8 * k, value, true));
      const pairs = size >> 1;
      simd(
        pAt * 4,
        gAt * 4,
        mAt * 4,
        vAt * 4,
        pOut * 4,
        mOut * 4,
        vOut * 4,
        at,
        pairs,
      );
      release(backend, constants);
      start = 2 * pairs;
    }
    // the loop the SIMD kernel mirrors, for what it left (an odd last value)
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
    return outs;
  },
);
