// oneDNN's binary add and ReLU backward for the elementwise kernels of a
// residual block, vectorised and on its threads where wasm's own run on one:
// `Add` of two float32 tensors of one shape (gradients meeting, residual
// sums), `VitkdAddRelu` (relu(a + b), the ReLU as a post-op) and
// `VitkdReluGrad` (dy where y > 0). Other cases, and any shape oneDNN
// refuses, run wasm's kernels.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import {
  byteOffset,
  heapBuffer,
  release,
  runKernel,
  type WasmBackendLike,
} from "./heap.ts";
import { activeDnnlRows, type DnnlRowKind } from "./_dnnl_rows.ts";
import { runHeapLoop } from "../fused/parallel_loops.ts";
import { sizeOf } from "../fused/heap_kernel.ts";
import { LoopId } from "./loops.ts";
import { MIN_SHARED_VALUES } from "./_dnnl_objects.ts";
import { ADD_RELU, RELU_GRAD } from "../webgpu/add_relu.ts";

// Runs `kind` on same-shape float32 tensors into a new output; undefined
// when oneDNN is off, the tensors do not qualify, or it refused.
function binary(
  backend: WasmBackendLike,
  kind: DnnlRowKind,
  first: tf.TensorInfo,
  second: tf.TensorInfo,
  minimum: number,
): tf.TensorInfo | undefined {
  const rows = activeDnnlRows();
  const size = sizeOf(first.shape);
  if (
    !rows || first.dtype !== "float32" || second.dtype !== "float32" ||
    first.shape.join(",") !== second.shape.join(",") || size < minimum ||
    size === 0
  ) {
    return undefined;
  }
  const width = first.shape[first.shape.length - 1] ?? 1;
  const out = backend.makeOutput([...first.shape], "float32");
  const refused = rows.run(
    kind,
    size / width,
    width,
    heapBuffer(backend),
    [first, second, out].map((t) => byteOffset(backend, t)),
  );
  if (refused === undefined) return out;
  release(backend, out);
  return undefined;
}

/** Wasm's `Add`, with large same-shape float32 sums on oneDNN. */
export function dnnlAddConfig(
  _dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: "Add",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
      const backend = args.backend as unknown as WasmBackendLike;
      // below the threshold oneDNN runs one thread, no faster than wasm's
      const out = binary(backend, "add", a, b, MIN_SHARED_VALUES);
      if (out) return out;
      if (!original) throw new Error("Add: the wasm backend has no Add kernel");
      return original.kernelFunc(args);
    },
  };
}

/** `VitkdAddRelu` on wasm: one oneDNN primitive, else wasm's Add and Relu. */
export function dnnlAddReluConfig(_dnnl: Dnnl): tf.KernelConfig {
  return {
    kernelName: ADD_RELU,
    backendName: "wasm",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
      const backend = args.backend as unknown as WasmBackendLike;
      const out = binary(backend, "addRelu", a, b, 0);
      if (out) return out;
      const sum = runKernel("Add", backend, { a, b });
      const y = runKernel("Relu", backend, { x: sum });
      release(backend, sum);
      return y;
    },
  };
}

/**
 * `dx = dy where y > 0, else 0` (a ReLU's gradient from its output) for
 * float32 tensors of one shape, into `dx`, which may be `dy`'s own buffer:
 * oneDNN's ReLU backward while its kernels are on, else the heap loop.
 */
export function maskReluGradient(
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  y: tf.TensorInfo,
  dx: tf.TensorInfo,
): void {
  const size = sizeOf(dy.shape);
  if (size === 0) return;
  const width = dy.shape[dy.shape.length - 1] ?? 1;
  const rows = activeDnnlRows();
  const masked = rows !== undefined &&
    rows.run(
        "reluMask",
        size / width,
        width,
        heapBuffer(backend),
        [y, dy, dx].map((t) => byteOffset(backend, t)),
      ) === undefined;
  if (!masked) {
    runHeapLoop(
      backend,
      LoopId.ReluMask,
      [dy, y, dx].map((t) => byteOffset(backend, t) / 4),
      size,
    );
  }
}

/** `VitkdReluGrad` on wasm: {@linkcode maskReluGradient} into a new tensor. */
export function dnnlReluGradConfig(_dnnl: Dnnl): tf.KernelConfig {
  return {
    kernelName: RELU_GRAD,
    backendName: "wasm",
    kernelFunc: (args) => {
      const { dy, y } = args.inputs as Record<string, tf.TensorInfo>;
      const backend = args.backend as unknown as WasmBackendLike;
      if (dy.shape.join(",") !== y.shape.join(",")) {
        throw new Error(
          `${RELU_GRAD}: dy [${dy.shape}] and y [${y.shape}] differ in shape`,
        );
      }
      const dx = backend.makeOutput([...dy.shape], "float32");
      maskReluGradient(backend, dy, y, dx);
      return dx;
    },
  };
}
