import type * as tf from "@tensorflow/tfjs";
import {
  floatOffset,
  heapOf,
  requireFloat,
  requireSameShape,
  sizeOf,
  wasmConfig,
} from "./heap_kernel.ts";
import { LoopId } from "../native/loops.ts";
import { runHeapLoop } from "./parallel_loops.ts";
import { activeDnnlRows } from "../native/_dnnl_rows.ts";
import { byteOffset, heapBuffer, release } from "../native/heap.ts";

/** Kernel name: layer norm over the last axis; outputs y, mean, 1/std. */
export const LAYER_NORM = "VitkdLayerNorm";
/** Kernel name: the layer norm gradient; outputs dx, dgamma, dbeta. */
export const LAYER_NORM_GRAD = "VitkdLayerNormGrad";

function widthOf(
  kernel: string,
  x: tf.TensorInfo,
  gamma: tf.TensorInfo,
  beta?: tf.TensorInfo,
): number {
  const width = x.shape[x.shape.length - 1];
  if (
    x.shape.length < 1 || sizeOf(gamma.shape) !== width ||
    (beta && sizeOf(beta.shape) !== width)
  ) {
    throw new Error(
      `${kernel}: gamma${
        beta ? " and beta" : ""
      } need ${width} values for x of shape [${x.shape}], got [${gamma.shape}]${
        beta ? ` and [${beta.shape}]` : ""
      }`,
    );
  }
  return width;
}

/**
 * `y = (x - mean) / sqrt(var + epsilon) * gamma + beta` per row: by oneDNN
 * (vectorised, on its threads) when the oneDNN kernels are on, its variance
 * then turned into 1/std; else in one pass over the heap (loops.ts; large
 * inputs split by rows with the helper thread).
 */
export const layerNormConfig: tf.KernelConfig = wasmConfig(
  LAYER_NORM,
  (inputs, attrs, backend) => {
    const { x, gamma, beta } = inputs;
    for (const [name, t] of Object.entries({ x, gamma, beta })) {
      requireFloat(LAYER_NORM, name, t);
    }
    const epsilon = attrs.epsilon as number;
    const width = widthOf(LAYER_NORM, x, gamma, beta);
    const rows = width === 0 ? 0 : sizeOf(x.shape) / width;
    const rowShape = x.shape.slice(0, -1);
    const y = backend.makeOutput([...x.shape], "float32");
    const mean = backend.makeOutput(rowShape, "float32");
    const inverse = backend.makeOutput(rowShape, "float32");
    const dnnl = activeDnnlRows();
    if (
      dnnl && rows > 0 &&
      dnnl.run(
          "layerNorm",
          rows,
          width,
          heapBuffer(backend),
          [x, y, gamma, beta, mean, inverse].map((t) => byteOffset(backend, t)),
          epsilon,
        ) === undefined
    ) {
      // oneDNN wrote the variance where the gradient wants 1/std
      const heap = heapOf(backend);
      const at = floatOffset(backend, inverse);
      for (let r = 0; r < rows; r++) {
        heap[at + r] = 1 / Math.sqrt(heap[at + r] + epsilon);
      }
      return [y, mean, inverse];
    }
    runHeapLoop(
      backend,
      LoopId.LayerNorm,
      [
        floatOffset(backend, x),
        floatOffset(backend, gamma),
        floatOffset(backend, beta),
        floatOffset(backend, y),
        floatOffset(backend, mean),
        floatOffset(backend, inverse),
        width,
        epsilon,
      ],
      rows,
      width,
    );
    return [y, mean, inverse];
  },
);

/**
 * dx, dgamma and dbeta of layer norm from dy, x, gamma and the saved mean and
 * 1/std: by oneDNN when its kernels are on, else one pass per row.
 */
export const layerNormGradConfig: tf.KernelConfig = wasmConfig(
  LAYER_NORM_GRAD,
  (inputs, _attrs, backend) => {
    const { dy, x, gamma, mean, inverse } = inputs;
    for (const [name, t] of Object.entries({ dy, x, gamma, mean, inverse })) {
      requireFloat(LAYER_NORM_GRAD, name, t);
    }
    requireSameShape(LAYER_NORM_GRAD, ["dy", "x"], dy, x);
    const width = widthOf(LAYER_NORM_GRAD, x, gamma);
    const rows = width === 0 ? 0 : sizeOf(x.shape) / width;
    if (sizeOf(mean.shape) !== rows || sizeOf(inverse.shape) !== rows) {
      throw new Error(
        `${LAYER_NORM_GRAD}: mean and inverse need ${rows} values, got [${mean.shape}] and [${inverse.shape}]`,
      );
    }
    const dx = backend.makeOutput([...x.shape], "float32");
    const dGamma = backend.makeOutput([...gamma.shape], "float32");
    const dBeta = backend.makeOutput([...gamma.shape], "float32");
    const dnnl = activeDnnlRows();
    if (dnnl && rows > 0) {
      // oneDNN wants the variance: 1/inverse² with epsilon 0 gives back the
      // same 1/std the forward used
      const variance = backend.makeOutput([rows], "float32");
      const vAt = floatOffset(backend, variance);
      const iAt = floatOffset(backend, inverse);
      const h = heapOf(backend);
      for (let r = 0; r < rows; r++) {
        h[vAt + r] = 1 / (h[iAt + r] * h[iAt + r]);
      }
      const refused = dnnl.run(
        "layerNormGrad",
        rows,
        width,
        heapBuffer(backend),
        [x, mean, variance, dy, gamma, dx, dGamma, dBeta].map((t) =>
          byteOffset(backend, t)
        ),
        0,
      );
      release(backend, variance);
      if (refused === undefined) return [dx, dGamma, dBeta];
    }
    const heap = heapOf(backend);
    const dyAt = floatOffset(backend, dy);
    const xAt = floatOffset(backend, x);
    const gAt = floatOffset(backend, gamma);
    const mAt = floatOffset(backend, mean);
    const iAt = floatOffset(backend, inverse);
    const dxAt = floatOffset(backend, dx);
    const gammaSum = new Float64Array(width);
    const betaSum = new Float64Array(width);
    for (let r = 0; r < rows; r++) {
      const base = r * width;
      const mu = heap[mAt + r];
      const inv = heap[iAt + r];
      let sumG = 0;
      let sumGX = 0;
      for (let j = 0; j < width; j++) {
        const d = heap[dyAt + base + j];
        const xhat = (heap[xAt + base + j] - mu) * inv;
        const g = d * heap[gAt + j];
        sumG += g;
        sumGX += g * xhat;
        gammaSum[j] += d * xhat;
        betaSum[j] += d;
      }
      const meanG = sumG / width;
      const meanGX = sumGX / width;
      for (let j = 0; j < width; j++) {
        const xhat = (heap[xAt + base + j] - mu) * inv;
        heap[dxAt + base + j] =
          (heap[dyAt + base + j] * heap[gAt + j] - meanG - xhat * meanGX) * inv;
      }
    }
    heap.set(gammaSum, floatOffset(backend, dGamma));
    heap.set(betaSum, floatOffset(backend, dBeta));
    return [dx, dGamma, dBeta];
  },
);
