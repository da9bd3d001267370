import type * as tf from "@tensorflow/tfjs";
import { axisBlock, SPREAD_ROWS } from "../webgpu/layout_kernels.ts";
import {
  floatOffset,
  heapOf,
  requireFloat,
  sizeOf,
  wasmConfig,
} from "./heap_kernel.ts";

/**
 * {@linkcode SPREAD_ROWS} on wasm: `dy` (`[outer, columns]` values) divided
 * by `divisor` and copied to every row of `[outer, rows, columns]`
 * (attribute `shape`). The gradient of a mean or sum over a block of axes
 * (global average pooling, the involution's pooling), where tfjs builds
 * `ones(x.shape)` in JavaScript, copies it to the heap and multiplies: a
 * full-size array allocated, filled and copied at every call. The same
 * values (`dy · 1 / n` and `dy / n` round alike).
 */
export const spreadRowsConfig: tf.KernelConfig = wasmConfig(
  SPREAD_ROWS,
  (inputs, attrs, backend) => {
    const { dy } = inputs;
    requireFloat(SPREAD_ROWS, "dy", dy);
    const { shape, axes, divisor } = attrs as unknown as {
      shape: number[];
      axes: number[];
      divisor: number;
    };
    const block = axisBlock(shape, axes);
    const size = sizeOf(shape);
    if (!block || sizeOf(dy.shape) * block.rows !== size) {
      throw new Error(
        `${SPREAD_ROWS}: dy [${dy.shape}] does not spread over axes [${axes}] of [${shape}]`,
      );
    }
    const y = backend.makeOutput([...shape], "float32");
    if (size === 0) return y;
    const heap = heapOf(backend);
    const dyAt = floatOffset(backend, dy);
    const yAt = floatOffset(backend, y);
    const { outer, rows, columns } = block;
    const stride = rows * columns;
    for (let o = 0; o < outer; o++) {
      const first = yAt + o * stride;
      for (let j = 0; j < columns; j++) {
        heap[first + j] = heap[dyAt + o * columns + j] / divisor;
      }
      // the first row doubled until the block is full: log2(rows) copies
      for (let filled = columns; filled < stride;) {
        const count = Math.min(filled, stride - filled);
        heap.copyWithin(first + filled, first, first + count);
        filled += count;
      }
    }
    return y;
  },
);
