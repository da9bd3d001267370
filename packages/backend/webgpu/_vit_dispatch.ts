// The plumbing of the fused element-wise kernels on WebGPU (vit_kernels.ts,
// vit_token_kernels.ts, add_relu.ts): WGSL bindings, the grid-stride shader
// frame, uniform words, one dispatch, and the kernel config wrapper.
import type * as tf from "@tensorflow/tfjs";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

export const WORKGROUP = 256;
export const MAX_WORKGROUPS = 4096;
export const groupsFor = (threads: number) =>
  Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(threads / WORKGROUP)));

export const sizeOf = (shape: readonly number[]) =>
  shape.reduce((a, b) => a * b, 1);

/** WGSL storage declarations: inputs read-only, then outputs read-write. */
export function bindings(inputs: string[], outputs: string[]): string {
  return [
    ...inputs.map((name, i) =>
      `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`
    ),
    ...outputs.map((name, i) =>
      `@group(0) @binding(${
        inputs.length + i
      }) var<storage, read_write> ${name}: array<f32>;`
    ),
  ].join("\n");
}

/** A shader whose `body` runs once per index `i < info.n` (grid stride). */
export function perIndex(
  inputs: string[],
  outputs: string[],
  info: string,
  body: string,
): string {
  return `${bindings(inputs, outputs)}
struct Info { n: u32, ${info} }
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.n; i = i + stride) {
${body}
  }
}`;
}

/** Uniform words: u32 for integers, f32 for the listed float fields. */
export function words(values: [number, "u" | "f"][]): ArrayBuffer {
  const data = new ArrayBuffer(Math.max(16, values.length * 4));
  const view = new DataView(data);
  values.forEach(([v, kind], i) => {
    if (kind === "u") view.setUint32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return data;
}

export function dispatch(
  backend: WebGpuBackendInternals,
  kernel: string,
  key: string,
  code: string,
  tensors: tf.TensorInfo[],
  uniform: ArrayBuffer,
  groups: number,
): void {
  encodeDispatch(
    backend,
    kernel,
    pipelineFor(backend.device, key, code),
    tensors,
    [uniformBuffer(backend, uniform)],
    [groups],
  );
}

export function requireFloat(
  kernel: string,
  named: Record<string, tf.TensorInfo>,
) {
  for (const [name, t] of Object.entries(named)) {
    if (t === undefined || t.dtype !== "float32") {
      throw new Error(`${kernel}: ${name} must be float32, got ${t?.dtype}`);
    }
  }
}

export function rowsOf(
  kernel: string,
  x: tf.TensorInfo,
  width: number,
): number {
  if (x.shape.length < 1) throw new Error(`${kernel}: x must have rank >= 1`);
  return width === 0 ? 0 : sizeOf(x.shape) / width;
}

export type KernelFunc = (
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
  backend: WebGpuBackendInternals,
) => tf.TensorInfo | tf.TensorInfo[];

export function webgpuConfig(
  kernelName: string,
  fn: KernelFunc,
): tf.KernelConfig {
  return {
    kernelName,
    backendName: "webgpu",
    kernelFunc: ({ inputs, attrs, backend }) =>
      fn(
        inputs as Record<string, tf.TensorInfo>,
        (attrs ?? {}) as Record<string, unknown>,
        backend as unknown as WebGpuBackendInternals,
      ),
  };
}
