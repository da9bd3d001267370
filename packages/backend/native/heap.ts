import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs' wasm backend the native kernels reach into. */
export interface WasmBackendLike {
  /** The Emscripten module; its heap holds every tensor's data. */
  wasm: { HEAPU8: Uint8Array };
  /** Per-tensor records; `memoryOffset` is the byte offset in the heap. */
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** Allocates an output tensor on the heap. */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** Releases a tensor made by a kernel. */
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The heap's current buffer; take it after the last allocation of a call. */
export function heapBuffer(backend: WasmBackendLike): ArrayBuffer {
  return backend.wasm.HEAPU8.buffer as ArrayBuffer;
}

/** A float view of the whole heap, valid until the next allocation. */
// The heap's base pointer, kept per buffer object: after memory grows the
// heap is a new buffer.
let pointedHeap: ArrayBufferLike | undefined;
let heapBase: Deno.PointerValue = null;

/** The address of the heap's first byte, for native code and the helper thread. */
export function heapPointer(heap: ArrayBufferLike): Deno.PointerValue {
  if (heap !== pointedHeap || heap.byteLength === 0) {
    pointedHeap = heap;
    heapBase = Deno.UnsafePointer.of(new Uint8Array(heap));
  }
  return heapBase;
}

/** {@linkcode heapPointer} as a number (addresses stay below 2^53), to post to the helper. */
export function heapAddress(heap: ArrayBufferLike): number {
  return Number(Deno.UnsafePointer.value(heapPointer(heap)));
}

/**
 * The heap's `WebAssembly.Memory`, for modules that import it; undefined
 * when the backend's build does not expose it.
 */
export function heapMemory(
  backend: WasmBackendLike,
): WebAssembly.Memory | undefined {
  const memory = (backend.wasm as { asm?: { memory?: unknown } }).asm?.memory;
  return memory instanceof WebAssembly.Memory &&
      memory.buffer === backend.wasm.HEAPU8.buffer
    ? memory
    : undefined;
}

export function heapFloats(backend: WasmBackendLike): Float32Array {
  return new Float32Array(heapBuffer(backend));
}

/** The byte offset of a tensor's data in the heap. */
export function byteOffset(
  backend: WasmBackendLike,
  tensor: tf.TensorInfo,
): number {
  const data = backend.dataIdMap.get(tensor.dataId);
  if (!data) {
    throw new Error(
      `native kernel: tensor of shape [${tensor.shape}] has no data on the wasm backend`,
    );
  }
  return data.memoryOffset;
}

/** Frees intermediate tensors made inside a kernel. */
export function release(
  backend: WasmBackendLike,
  ...tensors: (tf.TensorInfo | undefined)[]
): void {
  for (const tensor of tensors) {
    if (tensor) backend.disposeData(tensor.dataId);
  }
}

/** Fills `rows` rows of `out` (a float offset) with `row` repeated. */
export function fillRows(
  heap: Float32Array,
  out: number,
  row: Float32Array,
  rows: number,
): void {
  if (rows <= 0) return;
  const width = row.length;
  heap.set(row, out);
  // Doubling copies keep the call count logarithmic in the row count.
  let filled = 1;
  while (filled < rows) {
    const count = Math.min(filled, rows - filled);
    heap.copyWithin(
      out + filled * width,
      out,
      out + count * width,
    );
    filled += count;
  }
}

/**
 * Copies an NHWC block `[n, h, w, c]` at float offset `src` into the
 * `[n, outH, outW, c]` block at `dst`, placed at `(top, left)`; the rest of
 * the destination is zeroed when `zero` is set.
 */
export function placeImages(
  heap: Float32Array,
  src: number,
  dst: number,
  n: number,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
  top: number,
  left: number,
): void {
  heap.fill(0, dst, dst + n * outH * outW * c);
  const rowLength = w * c;
  for (let image = 0; image < n; image++) {
    for (let y = 0; y < h; y++) {
      const from = src + ((image * h + y) * w) * c;
      const to = dst + ((image * outH + y + top) * outW + left) * c;
      heap.copyWithin(to, from, from + rowLength);
    }
  }
}

/**
 * Copies the `[n, h, w, c]` window at `(top, left)` of the NHWC block
 * `[n, srcH, srcW, c]` at `src` into a dense block at `dst`.
 */
export function cropImages(
  heap: Float32Array,
  src: number,
  dst: number,
  n: number,
  srcH: number,
  srcW: number,
  c: number,
  h: number,
  w: number,
  top: number,
  left: number,
): void {
  const rowLength = w * c;
  for (let image = 0; image < n; image++) {
    for (let y = 0; y < h; y++) {
      const from = src + ((image * srcH + y + top) * srcW + left) * c;
      const to = dst + ((image * h + y) * w) * c;
      heap.copyWithin(to, from, from + rowLength);
    }
  }
}

/** Activations the fused kernels accept, mapped to the kernels that apply them. */
export type FusedActivation =
  | "linear"
  | "relu"
  | "relu6"
  | "elu"
  | "sigmoid"
  | "leakyrelu"
  | "prelu";

/**
 * Applies a fused op's activation with the wasm backend's own kernels and
 * frees `x`; returns `x` itself for `linear`.
 */
export function applyActivation(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  activation: string | undefined,
  preluWeights: tf.TensorInfo | undefined,
  leakyreluAlpha: number | undefined,
): tf.TensorInfo {
  let kernelName: string;
  let inputs: Record<string, tf.TensorInfo> = { x };
  let attrs: Record<string, unknown> = {};
  switch (activation ?? "linear") {
    case "linear":
      return x;
    case "relu":
      kernelName = "Relu";
      break;
    case "relu6":
      kernelName = "Relu6";
      break;
    case "elu":
      kernelName = "Elu";
      break;
    case "sigmoid":
      kernelName = "Sigmoid";
      break;
    case "leakyrelu":
      kernelName = "LeakyRelu";
      attrs = { alpha: leakyreluAlpha ?? 0.2 };
      break;
    case "prelu":
      if (!preluWeights) {
        throw new Error("native kernel: prelu activation without weights");
      }
      kernelName = "Prelu";
      inputs = { x, alpha: preluWeights };
      break;
    default:
      throw new Error(
        `native kernel: unknown fused activation "${activation}"`,
      );
  }
  const y = runKernel(kernelName, backend, inputs, attrs);
  release(backend, x);
  return y;
}

/** Runs a kernel registered on the wasm backend, by name. */
export function runKernel(
  kernelName: string,
  backend: WasmBackendLike,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, "wasm");
  if (!kernel) {
    throw new Error(`native kernel: wasm backend has no ${kernelName} kernel`);
  }
  return kernel.kernelFunc({
    inputs,
    attrs: attrs as tf.NamedAttrMap,
    backend: backend as unknown as tf.KernelBackend,
  }) as tf.TensorInfo;
}
