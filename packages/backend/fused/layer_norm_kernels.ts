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

// Rows per block of the gradient's loop: the unit the helper thread's share
// is cut by, and of the float64 column sums.
const GRAD_BLOCK_ROWS = 64;

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
 * 1/std: one pass per row, blocks of rows shared with the helper thread.
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
    // Blocks of rows, shared with the helper thread; each block's column
    // sums in float64 on the heap, added up here in block order. (oneDNN's
    // layer-norm backward, its reference kernel here, was no faster than
    // this loop on one thread.)
    const blocks = Math.ceil(rows / GRAD_BLOCK_ROWS);
    // 2·width doubles a block, plus one float to align them to 8 bytes
    const parts = backend.makeOutput([4 * width * blocks + 1], "float32");
    const partsAt = floatOffset(backend, parts);
    const partAt = partsAt + (partsAt % 2);
    runHeapLoop(
      backend,
      LoopId.LayerNormGrad,
      [
        floatOffset(backend, dy),
        floatOffset(backend, x),
        floatOffset(backend, gamma),
        floatOffset(backend, mean),
        floatOffset(backend, inverse),
        floatOffset(backend, dx),
        partAt,
        rows,
        width,
        GRAD_BLOCK_ROWS,
      ],
      blocks,
      GRAD_BLOCK_ROWS * width,
    );
    const heap = heapOf(backend);
    const part = new Float64Array(
      heap.buffer,
      heap.byteOffset + 4 * partAt,
      2 * width * blocks,
    );
    const gammaSum = new Float64Array(width);
    const betaSum = new Float64Array(width);
    for (let block = 0; block < blocks; block++) {
      const base = 2 * width * block;
      for (let j = 0; j < width; j++) {
        gammaSum[j] += part[base + j];
        betaSum[j] += part[base + width + j];
      }
    }
    heap.set(gammaSum, floatOffset(backend, dGamma));
    heap.set(betaSum, floatOffset(backend, dBeta));
    release(backend, parts);
    return [dx, dGamma, dBeta];
  },
);
