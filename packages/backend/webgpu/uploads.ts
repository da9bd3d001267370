import type { WebGpuBackendInternals } from "./_backend.ts";

// A constant of a few hundred values would be unusual; past the cap new ones
// are uploaded as tfjs does, so memory stays bounded whatever the caller does.
const MAX_CONSTANTS = 4096;

const constantBuffers = new WeakSet<GPUBuffer>();

/** Whether `buffer` is one of the cached one-value constants. */
export function isConstantBuffer(buffer: unknown): boolean {
  return buffer instanceof GPUBuffer && constantBuffers.has(buffer);
}

/**
 * Changes how the WebGPU backend uploads host values. Tensors of more than
 * one value are written with `queue.writeBuffer` into a pooled buffer: tfjs
 * maps a new staging buffer per upload and copies from it, which costs a
 * buffer creation, a mapping and a copy command each time. And it uploads
 * each one-value tensor (the `0.5` of `tf.mul(x, 0.5)`, a reduction's size,
 * an epsilon) once: later tensors of
 * the same dtype and bits share a read-only GPU buffer instead of making a
 * staging buffer and a copy per use, which tfjs does at every call. The
 * buffers are marked external, so tfjs never recycles them.
 * Idempotent per backend.
 *
 * @param backend The WebGPU backend.
 */
export function installUploadPath(
  backend: WebGpuBackendInternals,
): void {
  const patched = backend as WebGpuBackendInternals & {
    vitkdUploadPath?: boolean;
  };
  if (patched.vitkdUploadPath) return;
  patched.vitkdUploadPath = true;
  const cache = new Map<string, GPUBuffer>();
  const upload = Object.getPrototypeOf(backend).uploadToGPU as (
    this: WebGpuBackendInternals,
    dataId: object,
  ) => void;
  patched.uploadToGPU = function (dataId: object): void {
    const data = this.tensorMap.get(dataId) as
      & ReturnType<
        WebGpuBackendInternals["tensorMap"]["get"]
      >
      & { external?: boolean };
    const values = data.values as ArrayLike<number> | null;
    if (
      data.resource == null && values != null && values.length === 1 &&
      (data.dtype === "float32" || data.dtype === "int32" ||
        data.dtype === "bool")
    ) {
      const bits = new Uint32Array(1);
      if (data.dtype === "float32") {
        new Float32Array(bits.buffer)[0] = values[0];
      } else new Int32Array(bits.buffer)[0] = values[0];
      const key = `${data.dtype === "float32" ? "f" : "i"}${bits[0]}`;
      let buffer = cache.get(key);
      if (!buffer && cache.size < MAX_CONSTANTS) {
        buffer = this.device.createBuffer({
          size: 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
            GPUBufferUsage.COPY_DST,
          mappedAtCreation: true,
        });
        new Uint32Array(buffer.getMappedRange()).set(bits);
        buffer.unmap();
        constantBuffers.add(buffer);
        cache.set(key, buffer);
      }
      if (buffer) {
        data.resource = buffer;
        data.values = null;
        data.external = true;
        return;
      }
    }
    if (data.resource == null && values != null && ArrayBuffer.isView(values)) {
      // dtype int32 and bool are 4-byte ints on the GPU, float32 floats;
      // anything else (e.g. complex) goes tfjs's way
      const words = data.dtype === "float32"
        ? (values instanceof Float32Array ? values : Float32Array.from(values))
        : data.dtype === "int32" || data.dtype === "bool"
        ? (values instanceof Int32Array ? values : Int32Array.from(values))
        : undefined;
      if (words && words.byteLength > 0) {
        const buffer = this.bufferManager.acquireBuffer(
          words.byteLength,
          GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
            GPUBufferUsage.COPY_DST,
        );
        this.queue.writeBuffer(buffer, 0, words as Float32Array<ArrayBuffer>);
        data.resource = buffer;
        data.values = null;
        return;
      }
    }
    upload.call(this, dataId);
  };
}
