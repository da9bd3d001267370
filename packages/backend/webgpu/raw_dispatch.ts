// Our own compute pipelines, encoded into tfjs's command stream, for kernels
// that write more than one buffer in place (which tfjs programs cannot).
import type * as tf from "@tensorflow/tfjs";
import { gpuBufferOf, type WebGpuBackendInternals } from "./_backend.ts";

// tfjs submits after this many dispatches in a pass (its default flag value);
// we follow the same rule so our dispatches batch like its own.
const DISPATCHES_PER_SUBMIT = 15;

/** Called for every raw dispatch; the work counter listens here. */
export type DispatchListener = (kernel: string) => void;
const listeners = new Set<DispatchListener>();

/** Adds a listener of raw dispatches; returns its remover. */
export function onRawDispatch(listener: DispatchListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** A compute pipeline for `code` (entry point `main`), made once per device. */
export function pipelineFor(
  device: GPUDevice,
  key: string,
  code: string,
): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  let pipeline = cache.get(key);
  if (!pipeline) {
    pipeline = device.createComputePipeline({
      layout: "auto",
      compute: {
        module: device.createShaderModule({ code }),
        entryPoint: "main",
      },
    });
    cache.set(key, pipeline);
  }
  return pipeline;
}

/** A uniform buffer for this dispatch, released by tfjs once submitted. */
export function uniformBuffer(
  backend: WebGpuBackendInternals,
  data: ArrayBuffer,
): GPUBuffer {
  const size = Math.ceil(data.byteLength / 16) * 16;
  const buffer = backend.bufferManager.acquireBuffer(
    size,
    GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM,
  );
  backend.queue.writeBuffer(buffer, 0, data);
  backend.uniformPendingDisposal.push(buffer);
  return buffer;
}

/**
 * Encodes one dispatch of `pipeline` into the backend's open compute pass,
 * binding (in order) the tensors' buffers and then `extra` buffers. The
 * tensors are marked as used by the queue, so tfjs keeps their buffers until
 * the work is submitted.
 */
export function encodeDispatch(
  backend: WebGpuBackendInternals,
  kernel: string,
  pipeline: GPUComputePipeline,
  tensors: tf.TensorInfo[],
  extra: GPUBuffer[],
  workgroups: [number, number?, number?],
): void {
  const buffers = [...tensors.map((t) => gpuBufferOf(backend, t)), ...extra];
  for (const t of tensors) backend.commandQueueOwnedIds.add(t.dataId);
  const bindGroup = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass();
  }
  const pass = backend.computePassEncoder;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(
    workgroups[0],
    workgroups[1] ?? 1,
    workgroups[2] ?? 1,
  );
  backend.dispatchCountInPass++;
  for (const listener of listeners) listener(kernel);
  if (backend.dispatchCountInPass >= DISPATCHES_PER_SUBMIT) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}
