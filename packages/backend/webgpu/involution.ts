import type * as tf from "@tensorflow/tfjs";
import {
  INVOLUTION,
  INVOLUTION_GRAD,
  involutionAttrsOf,
  type InvolutionGeometry,
  involutionGeometry,
} from "../cnn_kernels/involution.ts";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;
const MAX_WORKGROUPS = 4096;
const groupsFor = (threads: number) =>
  Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(threads / WORKGROUP)));

const INFO = `struct Info {
  total: u32, h: u32, w: u32, c: u32,
  outH: u32, outW: u32, k: u32, s: u32,
  groups: u32, gc: u32, pad0: u32, pad1: u32,
}`;

const gridStride = (body: string) => `
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var e = id.x; e < info.total; e = e + stride) {
${body}
  }
}`;

// y[n,i,j,c] = Σ_{u,v} H[n,i,j,(u·K+v)·G + g(c)] · x[n, s·i+u-p, s·j+v-p, c],
// zero outside x, summed in the order u, v like the wasm kernel.
const FORWARD = `${INFO}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> kernels: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> info: Info;
${
  gridStride(`    let ch = e % info.c;
    let pixel = e / info.c;
    let j = pixel % info.outW;
    let i = (pixel / info.outW) % info.outH;
    let img = pixel / (info.outW * info.outH);
    let g = ch / info.gc;
    let p = i32((info.k - 1u) / 2u);
    let kk = info.k * info.k * info.groups;
    var sum = 0.0;
    for (var u = 0u; u < info.k; u = u + 1u) {
      let row = i32(info.s * i + u) - p;
      if (row < 0 || row >= i32(info.h)) { continue; }
      for (var v = 0u; v < info.k; v = v + 1u) {
        let col = i32(info.s * j + v) - p;
        if (col < 0 || col >= i32(info.w)) { continue; }
        let weight = kernels[pixel * kk + (u * info.k + v) * info.groups + g];
        sum = sum + weight * x[((img * info.h + u32(row)) * info.w + u32(col)) * info.c + ch];
      }
    }
    y[e] = sum;`)
}`;

// dH[n,i,j,(u·K+v)·G+g] = Σ_{c in g} dy[n,i,j,c] · x[n, s·i+u-p, s·j+v-p, c].
const KERNEL_GRAD = `${INFO}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dKernels: array<f32>;
@group(0) @binding(3) var<uniform> info: Info;
${
  gridStride(`    let kk = info.k * info.k * info.groups;
    let g = e % info.groups;
    let tap = (e / info.groups) % (info.k * info.k);
    let pixel = e / kk;
    let u = tap / info.k;
    let v = tap % info.k;
    let j = pixel % info.outW;
    let i = (pixel / info.outW) % info.outH;
    let img = pixel / (info.outW * info.outH);
    let p = i32((info.k - 1u) / 2u);
    let row = i32(info.s * i + u) - p;
    let col = i32(info.s * j + v) - p;
    var sum = 0.0;
    if (row >= 0 && row < i32(info.h) && col >= 0 && col < i32(info.w)) {
      let xBase = ((img * info.h + u32(row)) * info.w + u32(col)) * info.c;
      for (var ch = g * info.gc; ch < (g + 1u) * info.gc; ch = ch + 1u) {
        sum = sum + dy[pixel * info.c + ch] * x[xBase + ch];
      }
    }
    dKernels[e] = sum;`)
}`;

// dx[n,r,q,c] = Σ over the outputs (i, j) and taps (u, v) that read it:
// s·i+u-p = r and s·j+v-p = q.
const INPUT_GRAD = `${INFO}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> kernels: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> info: Info;
${
  gridStride(`    let ch = e % info.c;
    let q = (e / info.c) % info.w;
    let r = (e / (info.c * info.w)) % info.h;
    let img = e / (info.c * info.w * info.h);
    let g = ch / info.gc;
    let p = (info.k - 1u) / 2u;
    let kk = info.k * info.k * info.groups;
    var sum = 0.0;
    for (var u = 0u; u < info.k; u = u + 1u) {
      let ti = i32(r + p) - i32(u);
      if (ti < 0 || ti % i32(info.s) != 0) { continue; }
      let i = u32(ti) / info.s;
      if (i >= info.outH) { continue; }
      for (var v = 0u; v < info.k; v = v + 1u) {
        let tj = i32(q + p) - i32(v);
        if (tj < 0 || tj % i32(info.s) != 0) { continue; }
        let j = u32(tj) / info.s;
        if (j >= info.outW) { continue; }
        let pixel = (img * info.outH + i) * info.outW + j;
        sum = sum + kernels[pixel * kk + (u * info.k + v) * info.groups + g] * dy[pixel * info.c + ch];
      }
    }
    dx[e] = sum;`)
}`;

function info(geo: InvolutionGeometry, total: number): ArrayBuffer {
  return new Uint32Array([
    total,
    geo.h,
    geo.w,
    geo.c,
    geo.outH,
    geo.outW,
    geo.kernelSize,
    geo.strides,
    geo.groups,
    geo.groupChannels,
    0,
    0,
  ]).buffer;
}

function requireFloat(kernel: string, named: Record<string, tf.TensorInfo>) {
  for (const [name, t] of Object.entries(named)) {
    if (t?.dtype !== "float32") {
      throw new Error(`${kernel}: ${name} must be float32, got ${t?.dtype}`);
    }
  }
}

function run(
  backend: WebGpuBackendInternals,
  kernel: string,
  key: string,
  code: string,
  tensors: tf.TensorInfo[],
  geo: InvolutionGeometry,
  total: number,
): void {
  if (total === 0) return;
  encodeDispatch(
    backend,
    kernel,
    pipelineFor(backend.device, key, code),
    tensors,
    [uniformBuffer(backend, info(geo, total))],
    [groupsFor(total)],
  );
}

/** {@linkcode INVOLUTION} on WebGPU: one dispatch. */
export const involutionWebGpu: tf.KernelConfig = {
  kernelName: INVOLUTION,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { x, kernels } = inputs as Record<string, tf.TensorInfo>;
    requireFloat(INVOLUTION, { x, kernels });
    const geo = involutionGeometry(
      INVOLUTION,
      x.shape,
      kernels.shape,
      involutionAttrsOf(attrs),
    );
    const shape = [geo.n, geo.outH, geo.outW, geo.c];
    const y = backend.makeTensorInfo(shape, "float32");
    const total = shape.reduce((a, d) => a * d, 1);
    run(
      backend,
      "VitkdInvolution",
      "vitkd-inv",
      FORWARD,
      [x, kernels, y],
      geo,
      total,
    );
    return y;
  },
};

/** {@linkcode INVOLUTION_GRAD} on WebGPU: one dispatch for dx, one for the kernels. */
export const involutionGradWebGpu: tf.KernelConfig = {
  kernelName: INVOLUTION_GRAD,
  backendName: "webgpu",
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = b as unknown as WebGpuBackendInternals;
    const { dy, x, kernels } = inputs as Record<string, tf.TensorInfo>;
    requireFloat(INVOLUTION_GRAD, { dy, x, kernels });
    const geo = involutionGeometry(
      INVOLUTION_GRAD,
      x.shape,
      kernels.shape,
      involutionAttrsOf(attrs),
    );
    const yShape = [geo.n, geo.outH, geo.outW, geo.c];
    if (dy.shape.join(",") !== yShape.join(",")) {
      throw new Error(
        `${INVOLUTION_GRAD}: dy must have shape [${yShape}], got [${dy.shape}]`,
      );
    }
    const dx = backend.makeTensorInfo([...x.shape], "float32");
    const dKernels = backend.makeTensorInfo([...kernels.shape], "float32");
    const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
    run(
      backend,
      "VitkdInvolutionGradInput",
      "vitkd-inv-dx",
      INPUT_GRAD,
      [dy, kernels, dx],
      geo,
      size(x.shape),
    );
    run(
      backend,
      "VitkdInvolutionGradKernels",
      "vitkd-inv-dk",
      KERNEL_GRAD,
      [dy, x, dKernels],
      geo,
      size(kernels.shape),
    );
    return [dx, dKernels];
  },
};
