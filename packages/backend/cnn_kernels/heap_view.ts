import type * as tf from "@tensorflow/tfjs";
import {
  byteOffset,
  heapFloats,
  type WasmBackendLike,
} from "../native/heap.ts";

/** The wasm backend's registry name. */
export const WASM = "wasm";

/**
 * Fails with the kernel's name when an input is not float32: the heap
 * kernels read raw floats.
 */
export function requireFloat(
  kernel: string,
  name: string,
  tensor: tf.TensorInfo,
): void {
  if (tensor.dtype !== "float32") {
    throw new Error(
      `${kernel}: input ${name} must be float32, got ${tensor.dtype} of shape [${tensor.shape}]`,
    );
  }
}

/**
 * The heap as floats and each tensor's float offset in it; call after the
 * kernel's last allocation (an allocation may grow and move the heap).
 */
export function locate(
  backend: WasmBackendLike,
  tensors: tf.TensorInfo[],
): { heap: Float32Array; at: number[] } {
  const heap = heapFloats(backend);
  return {
    heap,
    at: tensors.map((t) => byteOffset(backend, t) / 4),
  };
}

/** The backend argument of a kernel function, as the heap helpers see it. */
export function asWasm(backend: unknown): WasmBackendLike {
  return backend as WasmBackendLike;
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}
