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
import { release, runKernel } from "../native/heap.ts";
import { LoopId } from "../native/loops.ts";
import { runHeapLoop } from "./parallel_loops.ts";
import { activeDnnlRows } from "../native/_dnnl_rows.ts";
import { byteOffset, heapBuffer } from "../native/heap.ts";

// Runs oneDNN's `kind` from x into a new output when the oneDNN kernels are
// on and it takes the shape; undefined otherwise (the caller's own path).
function dnnlRows(
  backend: FusedBackend,
  kind: "gelu" | "softmax",
  x: tf.TensorInfo,
): tf.TensorInfo | undefined {
  const rows = activeDnnlRows();
  const width = x.shape[x.shape.length - 1] ?? 1;
  const size = sizeOf(x.shape);
  if (!rows || width === 0 || size === 0) return undefined;
  const y = backend.makeOutput([...x.shape], "float32");
  const refused = rows.run(
    kind,
    size / width,
    width,
    heapBuffer(backend),
    [byteOffset(backend, x), byteOffset(backend, y)],
  );
  if (refused === undefined) return y;
  release(backend, y);
  return undefined;
}

/** Kernel name: softmax over the last axis. */
export const SOFTMAX = "VitkdSoftmax";
/** Kernel name: softmax gradient from dy and the softmax output y. */
export const SOFTMAX_GRAD = "VitkdSoftmaxGrad";
/** Kernel name: exact (erf) GELU. */
export const GELU = "VitkdGelu";
/** Kernel name: GELU gradient from dy and x. */
export const GELU_GRAD = "VitkdGeluGrad";

// e^x of a heap tensor by the stock wasm Exp kernel, which is SIMD where a JS
// loop calls Math.exp one value at a time; frees the input.
function expOf(backend: FusedBackend, x: tf.TensorInfo): tf.TensorInfo {
  const e = runKernel("Exp", backend, { x });
  release(backend, x);
  return e;
}

/**
 * `softmax(x)` over the last axis by oneDNN (vectorised, on its threads)
 * when the oneDNN kernels are on, else by the stock wasm Softmax kernel
 * (XNNPACK, SIMD, one thread); a kernel of its own so that its gradient is
 * the single fused {@linkcode softmaxGradConfig} instead of tfjs'
 * four-kernel chain.
 */
export const softmaxConfig: tf.KernelConfig = wasmConfig(
  SOFTMAX,
  (inputs, _attrs, backend) => {
    const { x } = inputs;
    requireFloat(SOFTMAX, "x", x);
    const y = dnnlRows(backend, "softmax", x);
    if (y) return y;
    return runKernel("Softmax", backend, { logits: x }, {
      dim: x.shape.length - 1,
    });
  },
);

/** `dx = y * (dy - sum(dy * y))` per row of the last axis. */
export const softmaxGradConfig: tf.KernelConfig = wasmConfig(
  SOFTMAX_GRAD,
  (inputs, _attrs, backend) => {
    const { dy, y } = inputs;
    requireFloat(SOFTMAX_GRAD, "dy", dy);
    requireFloat(SOFTMAX_GRAD, "y", y);
    requireSameShape(SOFTMAX_GRAD, ["dy", "y"], dy, y);
    const width = y.shape[y.shape.length - 1] ?? 1;
    const rows = width === 0 ? 0 : sizeOf(y.shape) / width;
    const dx = backend.makeOutput([...y.shape], "float32");
    // rows split with the helper thread when one runs: a JS loop over the
    // heap alone was slower than tfjs's four SIMD kernels
    runHeapLoop(
      backend,
      LoopId.SoftmaxGrad,
      [
        floatOffset(backend, dy),
        floatOffset(backend, y),
        floatOffset(backend, dx),
        width,
      ],
      rows,
      width,
    );
    return dx;
  },
);

// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7) when training, the
// formula of tfjs' own Erf kernels, so the fused GELU equals `tf.layers`
// GELU to float32 rounding; by a rational fit without exp at inference. The
// loops live in native/loops.ts, so that the helper thread can run half.
/**
 * `gelu(x) = x * 0.5 * (1 + erf(x / sqrt 2))`, and its slope
 * `Φ(x) + x φ(x)` (the derivative tfjs autodiff gives through erf) as a
 * second output: both share one exp, and the gradient becomes one multiply.
 * Attribute `withSlope: false` (inference) leaves the slope out.
 */
export const geluConfig: tf.KernelConfig = wasmConfig(
  GELU,
  (inputs, attrs, backend) => {
    const { x } = inputs;
    requireFloat(GELU, "x", x);
    const withSlope = attrs.withSlope !== false;
    const size = sizeOf(x.shape);
    if (!withSlope) return [geluWithoutSlope(backend, x, size)];
    const fast = dnnlGeluWithSlope(backend, x);
    if (fast) return fast;
    const exponent = backend.makeOutput([...x.shape], "float32");
    const xAt = floatOffset(backend, x);
    runHeapLoop(backend, LoopId.GeluExponent, [
      xAt,
      floatOffset(backend, exponent),
    ], size);
    // exp(-(v/√2)²) is both erf's exponential and the normal density's; the
    // slope overwrites it in place.
    const slope = expOf(backend, exponent);
    const y = backend.makeOutput([...x.shape], "float32");
    runHeapLoop(backend, LoopId.GeluTraining, [
      xAt,
      floatOffset(backend, slope),
      floatOffset(backend, y),
    ], size);
    return [y, slope];
  },
);

// GELU and its slope by oneDNN when its kernels are on: the forward, then
// the backward with dy = 1, which is the slope (dx = dy * slope stays one
// multiply, whichever path made the slope).
function dnnlGeluWithSlope(
  backend: FusedBackend,
  x: tf.TensorInfo,
): tf.TensorInfo[] | undefined {
  const rows = activeDnnlRows();
  const width = x.shape[x.shape.length - 1] ?? 1;
  const size = sizeOf(x.shape);
  if (!rows || width === 0 || size === 0) return undefined;
  const y = dnnlRows(backend, "gelu", x);
  if (!y) return undefined;
  const ones = backend.makeOutput([...x.shape], "float32");
  const slope = backend.makeOutput([...x.shape], "float32");
  heapOf(backend).fill(
    1,
    floatOffset(backend, ones),
    floatOffset(backend, ones) + size,
  );
  const refused = rows.run(
    "geluSlope",
    size / width,
    width,
    heapBuffer(backend),
    [x, ones, slope].map((t) => byteOffset(backend, t)),
  );
  release(backend, ones);
  if (refused === undefined) return [y, slope];
  release(backend, y);
  release(backend, slope);
  return undefined;
}

// At inference oneDNN's erf GELU when the oneDNN kernels are on (vectorised;
// the heap loop is scalar JavaScript), else the rational fit on both threads.
function geluWithoutSlope(
  backend: FusedBackend,
  x: tf.TensorInfo,
  size: number,
): tf.TensorInfo {
  const fast = dnnlRows(backend, "gelu", x);
  if (fast) return fast;
  const y = backend.makeOutput([...x.shape], "float32");
  runHeapLoop(backend, LoopId.GeluInference, [
    floatOffset(backend, x),
    floatOffset(backend, y),
  ], size);
  return y;
}

/** `dx = dy * slope`, the slope saved by the forward kernel. */
export const geluGradConfig: tf.KernelConfig = wasmConfig(
  GELU_GRAD,
  (inputs, _attrs, backend) => {
    const { dy, slope } = inputs;
    requireFloat(GELU_GRAD, "dy", dy);
    requireFloat(GELU_GRAD, "slope", slope);
    requireSameShape(GELU_GRAD, ["dy", "slope"], dy, slope);
    // the stock wasm Multiply: SIMD, where a JS loop is scalar
    return runKernel("Multiply", backend, { a: dy, b: slope });
  },
);
