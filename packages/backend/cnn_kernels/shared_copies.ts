import type * as tf from "@tensorflow/tfjs";
import { slice_util as tfSlice, util as tfUtil } from "@tensorflow/tfjs";
import {
  byteOffset,
  heapFloats,
  type WasmBackendLike,
} from "../native/heap.ts";
import { sizeOf, WASM } from "./heap_view.ts";
import type { KernelConfig } from "../tf_types.ts";

interface RefCounting {
  incRef(dataId: tf.DataId): void;
}

/**
 * `Identity` that shares the input's buffer (one more reference) instead of
 * copying it, as wasm's own Reshape does. tfjs clones every tensor it saves
 * for a gradient through Identity, and tensors are immutable, so the copy
 * bought nothing: on a ResNet-8 step it was 5-7% of kernel time.
 */
export function sharedIdentityConfig(): KernelConfig {
  return {
    kernelName: "Identity",
    backendName: WASM,
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      (backend as unknown as RefCounting).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}

/**
 * `Cast` that shares the buffer when the dtype does not change (the gradient
 * of every saved-tensor clone is such a cast) and runs `stock` otherwise.
 */
export function sharedCastConfig(stock: KernelConfig): KernelConfig {
  return {
    kernelName: "Cast",
    backendName: WASM,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const dtype = (args.attrs as { dtype: tf.DataType }).dtype;
      if (dtype === x.dtype && dtype !== "string") {
        (args.backend as unknown as RefCounting).incRef(x.dataId);
        return { dataId: x.dataId, shape: [...x.shape], dtype };
      }
      return stock.kernelFunc(args);
    },
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
  };
}

/**
 * `Slice` that shares the buffer when the slice is the whole tensor (as
 * `model.predict` takes its one batch) and copies a contiguous region in one
 * `copyWithin`; other slices run `stock`, whose generic loop took 2.5 ms of a
 * 37 ms ResNet-8 inference batch for the whole-input slice.
 */
export function contiguousSliceConfig(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: "Slice",
    backendName: WASM,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const attrs = args.attrs as { begin: number[]; size: number[] };
      const [begin, size] = tfSlice.parseSliceParams(
        x,
        attrs.begin,
        attrs.size,
      );
      const whole = begin.every((b) => b === 0) &&
        size.every((s, i) => s === x.shape[i]);
      const backend = args.backend as unknown as RefCounting & WasmBackendLike;
      if (whole && x.dtype !== "string") {
        backend.incRef(x.dataId);
        return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
      }
      const wordSized = x.dtype === "float32" || x.dtype === "int32";
      if (!wordSized || !tfSlice.isSliceContinous(x.shape, begin, size)) {
        return stock.kernelFunc(args);
      }
      const out = backend.makeOutput([...size], x.dtype);
      const count = sizeOf(size);
      if (count === 0) return out;
      const strides = tfUtil.computeStrides(x.shape);
      const first = tfSlice.computeFlatOffset(begin, strides);
      const heap = heapFloats(backend);
      const from = byteOffset(backend, x) / 4 + first;
      heap.copyWithin(byteOffset(backend, out) / 4, from, from + count);
      return out;
    },
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
  };
}
