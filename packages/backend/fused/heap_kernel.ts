import type * as tf from "@tensorflow/tfjs";
import {
  byteOffset,
  heapFloats,
  type WasmBackendLike,
} from "../native/heap.ts";

/** The wasm backend as the fused kernels see it. */
export type FusedBackend = WasmBackendLike;

/** The float offset of a tensor's data in the wasm heap. */
export function floatOffset(
  backend: FusedBackend,
  tensor: tf.TensorInfo,
): number {
  return byteOffset(backend, tensor) >> 2;
}

/** A float view of the heap; take it after the kernel's last allocation. */
export function heapOf(backend: FusedBackend): Float32Array {
  return heapFloats(backend);
}

/** Fails naming the kernel and input unless the tensor is float32. */
export function requireFloat(
  kernel: string,
  input: string,
  tensor: tf.TensorInfo | undefined,
): void {
  if (!tensor) throw new Error(`${kernel}: input ${input} is missing`);
  if (tensor.dtype !== "float32") {
    throw new Error(
      `${kernel}: input ${input} must be float32, got ${tensor.dtype}`,
    );
  }
}

/** Fails naming the kernel and both shapes unless they are equal. */
export function requireSameShape(
  kernel: string,
  names: [string, string],
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): void {
  if (
    a.shape.length !== b.shape.length ||
    a.shape.some((d, i) => d !== b.shape[i])
  ) {
    throw new Error(
      `${kernel}: ${names[0]} of shape [${a.shape}] and ${
        names[1]
      } of shape [${b.shape}] must match`,
    );
  }
}

/** The product of a shape's dimensions. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Makes a kernel config for wasm from a function over the wasm backend. */
export function wasmConfig(
  kernelName: string,
  run: (
    inputs: Record<string, tf.TensorInfo>,
    attrs: tf.NamedAttrMap,
    backend: FusedBackend,
  ) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig {
  return {
    kernelName,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) =>
      run(
        inputs as Record<string, tf.TensorInfo>,
        (attrs ?? {}) as tf.NamedAttrMap,
        backend as unknown as FusedBackend,
      ),
  };
}
