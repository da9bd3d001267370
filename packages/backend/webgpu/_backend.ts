// The parts of tfjs-backend-webgpu's WebGPUBackend (4.22) that our kernels
// reach. TypeScript marks several private; they are read here, in one place,
// so that a tfjs upgrade is checked against one file.
import * as tf from "@tensorflow/tfjs";

/** A GPU program as tfjs-backend-webgpu runs it (only the fields we read). */
export interface WebGpuProgramLike {
  /** The program's name (its class, or our kernel name). */
  constructor: { name: string };
  /** The output's shape. */
  outputShape: number[];
}

/** One tensor's entry in the backend's data map. */
export interface WebGpuTensorData {
  /** Values still on the CPU (not uploaded yet), or a cached read. */
  values: unknown;
  /** The tensor's dtype. */
  dtype: tf.DataType;
  /** The tensor's shape. */
  shape: number[];
  /** The GPU buffer, once uploaded or written by a program. */
  resource?: GPUBuffer | GPUTexture | unknown;
}

/** The backend's internals our kernels and counters use. */
export interface WebGpuBackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): WebGpuTensorData };
  bufferManager: {
    acquireBuffer(size: number, usage: number): GPUBuffer;
  };
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  uniformPendingDisposal: GPUBuffer[];
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  getBufferData(buffer: GPUBuffer): Promise<ArrayBuffer>;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  runWebGPUProgram(
    program: WebGpuProgramLike,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: unknown,
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  adapterInfo?: { description?: string; vendor?: string };
}

/** The active backend as a WebGPU backend; throws when another one runs. */
export function activeWebGpu(op: string): WebGpuBackendInternals {
  if (tf.getBackend() !== "webgpu") {
    throw new Error(`${op}: needs the webgpu backend, got ${tf.getBackend()}`);
  }
  return tf.backend() as unknown as WebGpuBackendInternals;
}

/** The GPU buffer behind a tensor, uploading it first if it is on the CPU. */
export function gpuBufferOf(
  backend: WebGpuBackendInternals,
  tensor: tf.TensorInfo,
): GPUBuffer {
  backend.uploadToGPU(tensor.dataId);
  const resource = backend.tensorMap.get(tensor.dataId).resource;
  if (!(resource instanceof GPUBuffer)) {
    throw new Error(
      `webgpu: tensor [${tensor.shape}] is not held in a GPU buffer`,
    );
  }
  return resource;
}
