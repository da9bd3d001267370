import type * as tf from "@tensorflow/tfjs";
import {
  activeWebGpu,
  type WebGpuBackendInternals,
  type WebGpuProgramLike,
} from "./_backend.ts";
import { onRawDispatch } from "./raw_dispatch.ts";
import { isConstantBuffer } from "./uploads.ts";

/** The GPU work a piece of code caused, counted on the WebGPU backend. */
export interface WebGpuWork {
  /** Compute dispatches (tfjs programs and our own kernels). */
  dispatches: number;
  /** Dispatches by program or kernel name. */
  byKernel: Record<string, number>;
  /** Tensors copied from the host to the GPU (cached constants excluded). */
  uploads: number;
  /** Bytes of those copies. */
  uploadBytes: number;
  /** The shapes uploaded, in order (for finding who uploads). */
  uploadShapes: number[][];
  /** GPU-to-CPU reads (each blocks until the GPU is done). */
  reads: number;
}

/** Options of {@linkcode countWebGpuWork}. */
export interface CountOptions {
  /**
   * Skip compiling and running tfjs's programs: outputs are allocated, not
   * computed. Counts do not depend on values (a training step has no
   * data-dependent control flow), so this counts a step of a large model on
   * a software adapter in seconds.
   */
  skipCompute?: boolean;
}

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 4,
  complex64: 8,
};

/**
 * Runs `fn` on the WebGPU backend and counts the dispatches, host-to-GPU
 * uploads and GPU reads it causes, by wrapping the backend's methods while
 * `fn` runs.
 *
 * @example Dispatches of one matmul
 * ```ts ignore
 * const { work } = await countWebGpuWork(() => tf.matMul(a, b).dispose());
 * console.log(work.dispatches);
 * ```
 *
 * @param fn The code to count; may be async.
 * @param options Whether to skip the programs' computation.
 * @returns `fn`'s result and the counts.
 */
export async function countWebGpuWork<T>(
  fn: () => T | Promise<T>,
  options: CountOptions = {},
): Promise<{ result: T; work: WebGpuWork }> {
  const backend = activeWebGpu("countWebGpuWork");
  const work: WebGpuWork = {
    dispatches: 0,
    byKernel: {},
    uploads: 0,
    uploadBytes: 0,
    uploadShapes: [],
    reads: 0,
  };
  const count = (name: string) => {
    work.dispatches++;
    work.byKernel[name] = (work.byKernel[name] ?? 0) + 1;
  };
  const original = {
    runWebGPUProgram: backend.runWebGPUProgram,
    uploadToGPU: backend.uploadToGPU,
    getBufferData: backend.getBufferData,
  };
  // our own wrappers (e.g. the constant cache) stay; only ours come off
  const own = Object.fromEntries(
    Object.keys(original).filter((name) => Object.hasOwn(backend, name)).map((
      name,
    ) => [name, (backend as unknown as Record<string, unknown>)[name]]),
  );
  const patched = backend as WebGpuBackendInternals;
  patched.uploadToGPU = function (dataId: object): void {
    const data = this.tensorMap.get(dataId);
    const fromHost = data.resource == null && data.values != null;
    original.uploadToGPU.call(this, dataId);
    if (fromHost && !isConstantBuffer(data.resource)) {
      work.uploads++;
      const size = data.shape.reduce((a, b) => a * b, 1);
      work.uploadBytes += size * (BYTES[data.dtype] ?? 4);
      work.uploadShapes.push([...data.shape]);
    }
  };
  patched.getBufferData = function (buffer: GPUBuffer) {
    work.reads++;
    return original.getBufferData.call(this, buffer);
  };
  patched.runWebGPUProgram = function (
    program: WebGpuProgramLike,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: unknown,
    output?: tf.TensorInfo,
  ): tf.TensorInfo {
    count(program.constructor.name);
    if (!options.skipCompute) {
      return original.runWebGPUProgram.call(
        this,
        program,
        inputs,
        outputDtype,
        uniforms,
        output,
      );
    }
    const out = output ?? this.makeTensorInfo(program.outputShape, outputDtype);
    for (const t of [out, ...inputs]) this.uploadToGPU(t.dataId);
    return out;
  };
  const stopListening = onRawDispatch(count);
  try {
    const result = await fn();
    return { result, work };
  } finally {
    stopListening();
    for (const name of Object.keys(original)) {
      delete (backend as unknown as Record<string, unknown>)[name];
    }
    Object.assign(backend, own);
  }
}
