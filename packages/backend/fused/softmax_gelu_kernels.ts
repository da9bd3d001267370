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
import { release, runKernel } from "../native/heap.ts";

/** Kernel name: softmax over the last axis. */
export const SOFTMAX = "VitkdSoftmax";
/** Kernel name: softmax gradient from dy and the softmax output y. */
export const SOFTMAX_GRAD = "VitkdSoftmaxGrad";
/** Kernel name: exact (erf) GELU. */
export const GELU = "VitkdGelu";
/** Kernel name: GELU gradient from dy and x. */
export const GELU_GRAD = "VitkdGeluGrad";

// e^x of a heap tensor by the stock wasm Exp kernel (SIMD, ~2x faster than
// Math.exp in a JS loop); frees the input.
function expOf(backend: FusedBackend, x: tf.TensorInfo): tf.TensorInfo {
  const e = runKernel("Exp", backend, { x });
  release(backend, x);
  return e;
}

/**
 * `softmax(x)` over the last axis by the stock wasm Softmax kernel
 * (XNNPACK, SIMD); a kernel of its own so that its gradient is the single
 * fused {@linkcode softmaxGradConfig} instead of tfjs' four-kernel chain.
 */
export const softmaxConfig: tf.KernelConfig = wasmConfig(
  SOFTMAX,
  (inputs, _attrs, backend) => {
    const { x } = inputs;
    requireFloat(SOFTMAX, "x", x);
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
    const heap = heapOf(backend);
    const dyAt = floatOffset(backend, dy);
    const yAt = floatOffset(backend, y);
    const dxAt = floatOffset(backend, dx);
    for (let r = 0; r < rows; r++) {
      const base = r * width;
      let dot = 0;
      for (let j = 0; j < width; j++) {
        dot += heap[dyAt + base + j] * heap[yAt + base + j];
      }
      for (let j = 0; j < width; j++) {
        heap[dxAt + base + j] = heap[yAt + base + j] *
          (heap[dyAt + base + j] - dot);
      }
    }
    return dx;
  },
);

const P = tf.backend_util.ERF_P;
const A1 = tf.backend_util.ERF_A1;
const A2 = tf.backend_util.ERF_A2;
const A3 = tf.backend_util.ERF_A3;
const A4 = tf.backend_util.ERF_A4;
const A5 = tf.backend_util.ERF_A5;
const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

// erf(z) = 1 - poly(t) t e^{-z²}, t = 1 / (1 + P z): Abramowitz–Stegun 7.1.26
// (|error| < 1.5e-7), the formula of tfjs' own Erf kernels, so the fused
// GELU equals `tf.layers` GELU to float32 rounding.
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
    const exponent = backend.makeOutput([...x.shape], "float32");
    let heap = heapOf(backend);
    const xAt = floatOffset(backend, x);
    const eAt0 = floatOffset(backend, exponent);
    for (let i = 0; i < size; i++) {
      const v = heap[xAt + i];
      heap[eAt0 + i] = -0.5 * v * v;
    }
    // exp(-(v/√2)²) is both erf's exponential and the normal density's; the
    // slope overwrites it in place.
    const slope = expOf(backend, exponent);
    const y = backend.makeOutput([...x.shape], "float32");
    heap = heapOf(backend);
    // The sign bit read as an integer: a branch on the sign of GELU's
    // inputs mispredicts about half the time and was most of this loop.
    const bits = new Int32Array(heap.buffer);
    const yAt = floatOffset(backend, y);
    const sAt = floatOffset(backend, slope);
    for (let i = 0; i < size; i++) {
      const v = heap[xAt + i];
      const e = heap[sAt + i];
      const t = 1 / (1 + P * Math.abs(v) * SQRT_HALF);
      const erfAbs = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * e;
      const cdf = 0.5 + erfAbs * (0.5 - (bits[xAt + i] >>> 31));
      heap[yAt + i] = v * cdf;
      if (withSlope) heap[sAt + i] = cdf + v * e * INV_SQRT_2PI;
    }
    if (withSlope) return [y, slope];
    backend.disposeData(slope.dataId);
    return [y];
  },
);

// erf(z) = z·p(z²)/q(z²) on [-4, 4] (±1 to float32 beyond), a minimax
// rational fit: |error| < 7e-8 against the exact erf on a 1e-4 grid, below
// A&S 7.1.26's 1.5e-7, with no exp. Inference needs no slope, so no exp at all.
const ERF_P = [
  -1.60960333262415e-02,
  -2.95459980854025e-03,
  -7.34990630326855e-04,
  -5.69250639462346e-05,
  -2.10102402082508e-06,
  2.77068142495902e-08,
  -2.72614225801306e-10,
];
const ERF_Q = [
  -1.42647390514189e-02,
  -7.37332916720468e-03,
  -1.68282697438203e-03,
  -2.13374055278905e-04,
  -1.45660718464996e-05,
];

function geluWithoutSlope(
  backend: FusedBackend,
  x: tf.TensorInfo,
  size: number,
): tf.TensorInfo {
  const y = backend.makeOutput([...x.shape], "float32");
  const heap = heapOf(backend);
  const xAt = floatOffset(backend, x);
  const yAt = floatOffset(backend, y);
  const [p1, p3, p5, p7, p9, p11, p13] = ERF_P;
  const [q0, q2, q4, q6, q8] = ERF_Q;
  for (let i = 0; i < size; i++) {
    const v = heap[xAt + i];
    const z = Math.min(4, Math.max(-4, v * SQRT_HALF));
    const z2 = z * z;
    const p = z *
      ((((((p13 * z2 + p11) * z2 + p9) * z2 + p7) * z2 + p5) * z2 + p3) * z2 +
        p1);
    const q = (((q8 * z2 + q6) * z2 + q4) * z2 + q2) * z2 + q0;
    heap[yAt + i] = 0.5 * v * (1 + p / q);
  }
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
    const size = sizeOf(dy.shape);
    const dx = backend.makeOutput([...dy.shape], "float32");
    const heap = heapOf(backend);
    const dyAt = floatOffset(backend, dy);
    const sAt = floatOffset(backend, slope);
    const dxAt = floatOffset(backend, dx);
    for (let i = 0; i < size; i++) {
      heap[dxAt + i] = heap[dyAt + i] * heap[sAt + i];
    }
    return dx;
  },
);
