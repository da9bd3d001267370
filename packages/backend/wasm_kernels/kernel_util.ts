import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";

/** A tensor as kernels see it: data id, shape and dtype, no engine bookkeeping. */
export type TensorInfo = tf.TensorInfo;

/** The slice of the wasm backend our compositions touch. */
export interface WasmBackendLike {
  /** Drops one reference to `dataId`; frees its memory when none is left. */
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** Attributes passed to a kernel, keyed by attribute name. */
export type Attrs = tf.NamedAttrMap;

/** The wasm backend's name in the tfjs kernel registry. */
export const WASM = "wasm";

/**
 * Looks up a kernel registered for wasm and fails with its name when absent,
 * so a missing building block is reported instead of an undefined call.
 */
export function wasmKernel(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, WASM);
  if (!config) {
    throw new Error(`wasm kernel "${name}" is not registered`);
  }
  return config;
}

/**
 * Runs another wasm kernel directly on backend data (no engine tensors, no
 * tape), returning the kernel's output.
 */
export function callKernel(
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Attrs,
  backend: WasmBackendLike,
): TensorInfo {
  const out = wasmKernel(name).kernelFunc({
    inputs: inputs as tf.NamedTensorInfoMap,
    attrs,
    backend: backend as unknown as tf.KernelBackend,
  });
  if (Array.isArray(out)) {
    throw new Error(`wasm kernel "${name}" returned several outputs`);
  }
  return out;
}

/**
 * Tracks the intermediates a composed kernel creates so that every one of
 * them is released, also when a step throws.
 */
export class Scratch {
  #owned: TensorInfo[] = [];

  constructor(private readonly backend: WasmBackendLike) {}

  /** Runs a kernel and records its output for release. */
  run(
    name: string,
    inputs: Record<string, TensorInfo>,
    attrs: Attrs = {},
  ): TensorInfo {
    const out = callKernel(name, inputs, attrs, this.backend);
    this.#owned.push(out);
    return out;
  }

  /** Hands `info` to the caller: it is no longer released by `dispose`. */
  keep(info: TensorInfo): TensorInfo {
    const index = this.#owned.findIndex((o) => o.dataId === info.dataId);
    if (index >= 0) this.#owned.splice(index, 1);
    return info;
  }

  /** Releases every intermediate still owned. */
  dispose(): void {
    for (const info of this.#owned) this.backend.disposeData(info.dataId);
    this.#owned = [];
  }
}

/**
 * The same data seen with another shape (a free reshape): shares the data id
 * and takes no reference, so it lives exactly as long as `info`.
 */
export function view(info: TensorInfo, shape: number[]): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const have = info.shape.reduce((a, b) => a * b, 1);
  if (size !== have) {
    throw new Error(
      `cannot view shape [${info.shape}] as [${shape}]: ${have} vs ${size} elements`,
    );
  }
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/**
 * Runs `body` with a fresh {@linkcode Scratch}; whatever `body` does not
 * `keep` is released afterwards, even on error.
 */
export function withScratch<T>(
  backend: WasmBackendLike,
  body: (scratch: Scratch) => T,
): T {
  const scratch = new Scratch(backend);
  try {
    return body(scratch);
  } finally {
    scratch.dispose();
  }
}
