import * as tf from "@tensorflow/tfjs";
import { asWasm, locate, requireFloat, WASM } from "./heap_view.ts";
import type { GradConfig, KernelConfig } from "../tf_types.ts";

/** Kernel: involution aggregation (the K·K weighted neighbourhood sum). */
export const INVOLUTION = "VitkdInvolution";
/** Kernel: the gradient of {@linkcode INVOLUTION} for x and the kernels. */
export const INVOLUTION_GRAD = "VitkdInvolutionGrad";

/** Attributes of the involution kernels. */
export interface InvolutionAttrs {
  /** Side K of the (odd) square neighbourhood. */
  kernelSize: number;
  /** Spatial stride. */
  strides: number;
  /** Channels sharing one generated kernel. */
  groupChannels: number;
}

/** Shapes of one involution aggregation, checked. */
export interface InvolutionGeometry extends InvolutionAttrs {
  /** Batch size. */
  n: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Channels (input and output). */
  c: number;
  /** Output height, ceil(h / strides). */
  outH: number;
  /** Output width, ceil(w / strides). */
  outW: number;
  /** Kernel groups G = c / groupChannels. */
  groups: number;
}

/**
 * Checks x `[N, H, W, C]` against kernels `[N, ceil(H/s), ceil(W/s), K·K·G]`
 * and returns the geometry; the error names the kernel and both shapes.
 */
export function involutionGeometry(
  kernel: string,
  xShape: readonly number[],
  kernelsShape: readonly number[],
  attrs: InvolutionAttrs,
): InvolutionGeometry {
  const { kernelSize: k, strides: s, groupChannels: gc } = attrs;
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) {
    throw new Error(`${kernel}: kernelSize must be odd and >= 1, got ${k}`);
  }
  if (!Number.isInteger(s) || s < 1 || !Number.isInteger(gc) || gc < 1) {
    throw new Error(
      `${kernel}: strides and groupChannels must be integers >= 1, got ${s} and ${gc}`,
    );
  }
  if (xShape.length !== 4 || kernelsShape.length !== 4) {
    throw new Error(
      `${kernel}: x [${xShape}] and kernels [${kernelsShape}] must be rank 4 (NHWC)`,
    );
  }
  const [n, h, w, c] = xShape;
  if (c % gc !== 0) {
    throw new Error(
      `${kernel}: x has ${c} channels, not divisible by groupChannels ${gc}`,
    );
  }
  const groups = c / gc;
  const outH = Math.ceil(h / s), outW = Math.ceil(w / s);
  const want = [n, outH, outW, k * k * groups];
  if (want.join(",") !== kernelsShape.join(",")) {
    throw new Error(
      `${kernel}: kernels must have shape [${want}] for x [${xShape}], got [${kernelsShape}]`,
    );
  }
  return { ...attrs, n, h, w, c, outH, outW, groups };
}

/** The involution attributes of a kernel call's attribute map. */
export function involutionAttrsOf(attrs: unknown): InvolutionAttrs {
  const a = attrs as InvolutionAttrs;
  return {
    kernelSize: a.kernelSize,
    strides: a.strides,
    groupChannels: a.groupChannels,
  };
}

/**
 * Forward: `y[n,i,j,c] = sum_{u,v} H[n,i,j,(u·K+v)·G+g(c)] ·
 * x[n, s·i+u-p, s·j+v-p, c]`, zero outside x, p = (K-1)/2; the offsets are
 * summed in the order u, v as the slice formulation does.
 */
export const involutionConfig: KernelConfig = {
  kernelName: INVOLUTION,
  backendName: WASM,
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const { x, kernels } = inputs as Record<string, tf.TensorInfo>;
    requireFloat(INVOLUTION, "x", x);
    requireFloat(INVOLUTION, "kernels", kernels);
    const geo = involutionGeometry(
      INVOLUTION,
      x.shape,
      kernels.shape,
      involutionAttrsOf(attrs),
    );
    const backend = asWasm(b);
    const y = backend.makeOutput([geo.n, geo.outH, geo.outW, geo.c], "float32");
    const { heap, at } = locate(backend, [x, kernels, y]);
    involutionForward(heap, at[0], at[1], at[2], geo);
    return y;
  },
};

/**
 * Collects the taps of output pixel (i, j) that land inside the image: their
 * tap index `u·K+v` and the float offset of the input pixel in image `img`.
 * Returns how many there are.
 */
function validTaps(
  geo: InvolutionGeometry,
  xAt: number,
  img: number,
  i: number,
  j: number,
  tapIndex: Int32Array,
  tapOffset: Int32Array,
): number {
  const { h, w, c, kernelSize: k, strides: s } = geo;
  const p = (k - 1) >> 1;
  let count = 0;
  for (let u = 0; u < k; u++) {
    const row = s * i + u - p;
    if (row < 0 || row >= h) continue;
    for (let v = 0; v < k; v++) {
      const col = s * j + v - p;
      if (col < 0 || col >= w) continue;
      tapIndex[count] = u * k + v;
      tapOffset[count] = xAt + ((img * h + row) * w + col) * c;
      count++;
    }
  }
  return count;
}

function involutionForward(
  heap: Float32Array,
  xAt: number,
  kAt: number,
  yAt: number,
  geo: InvolutionGeometry,
): void {
  const { n, c, outH, outW, groups, kernelSize: k } = geo;
  const gc = geo.groupChannels;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  const weights = new Float32Array(k * k);
  for (let img = 0; img < n; img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const kBase = kAt + pixel * kk;
        const yBase = yAt + pixel * c;
        const taps = validTaps(geo, xAt, img, i, j, tapIndex, tapOffset);
        if (k === 3 && taps === 9) {
          forwardNineTaps(heap, kBase, yBase, groups, gc, tapOffset);
          continue;
        }
        for (let g = 0; g < groups; g++) {
          for (let t = 0; t < taps; t++) {
            weights[t] = heap[kBase + tapIndex[t] * groups + g];
          }
          // Each channel's sum stays in a register (float64: at least as
          // exact as the float32 sum of the slice formulation).
          for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
            let sum = 0;
            for (let t = 0; t < taps; t++) {
              sum += weights[t] * heap[tapOffset[t] + ch];
            }
            heap[yBase + ch] = sum;
          }
        }
      }
    }
  }
}

/**
 * A 3x3 window fully inside the image (most pixels), unrolled: offsets and
 * weights live in registers instead of being re-read for every channel.
 */
function forwardNineTaps(
  heap: Float32Array,
  kBase: number,
  yBase: number,
  groups: number,
  gc: number,
  tapOffset: Int32Array,
): void {
  const o0 = tapOffset[0], o1 = tapOffset[1], o2 = tapOffset[2];
  const o3 = tapOffset[3], o4 = tapOffset[4], o5 = tapOffset[5];
  const o6 = tapOffset[6], o7 = tapOffset[7], o8 = tapOffset[8];
  for (let g = 0; g < groups; g++) {
    const w0 = heap[kBase + g], w1 = heap[kBase + groups + g];
    const w2 = heap[kBase + 2 * groups + g], w3 = heap[kBase + 3 * groups + g];
    const w4 = heap[kBase + 4 * groups + g], w5 = heap[kBase + 5 * groups + g];
    const w6 = heap[kBase + 6 * groups + g], w7 = heap[kBase + 7 * groups + g];
    const w8 = heap[kBase + 8 * groups + g];
    for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
      heap[yBase + ch] = w0 * heap[o0 + ch] + w1 * heap[o1 + ch] +
        w2 * heap[o2 + ch] + w3 * heap[o3 + ch] + w4 * heap[o4 + ch] +
        w5 * heap[o5 + ch] + w6 * heap[o6 + ch] + w7 * heap[o7 + ch] +
        w8 * heap[o8 + ch];
    }
  }
}

/** Backward: from dy, x and kernels makes dx and dKernels. */
export const involutionGradConfig: KernelConfig = {
  kernelName: INVOLUTION_GRAD,
  backendName: WASM,
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const { dy, x, kernels } = inputs as Record<string, tf.TensorInfo>;
    requireFloat(INVOLUTION_GRAD, "dy", dy);
    requireFloat(INVOLUTION_GRAD, "x", x);
    requireFloat(INVOLUTION_GRAD, "kernels", kernels);
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
    const backend = asWasm(b);
    const dx = backend.makeOutput([...x.shape], "float32");
    const dKernels = backend.makeOutput([...kernels.shape], "float32");
    const { heap, at } = locate(backend, [dy, x, kernels, dx, dKernels]);
    involutionBackward(heap, at[0], at[1], at[2], at[3], at[4], geo);
    return [dx, dKernels];
  },
};

function involutionBackward(
  heap: Float32Array,
  dyAt: number,
  xAt: number,
  kAt: number,
  dxAt: number,
  dkAt: number,
  geo: InvolutionGeometry,
): void {
  const { n, c, outH, outW, groups, kernelSize: k } = geo;
  const gc = geo.groupChannels;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  // dKernels[pixel, tap, g]: the group's dot product of dy and the tap's x.
  heap.fill(0, dkAt, dkAt + n * outH * outW * kk);
  for (let img = 0; img < n; img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const dyBase = dyAt + pixel * c;
        const dkBase = dkAt + pixel * kk;
        const taps = validTaps(geo, xAt, img, i, j, tapIndex, tapOffset);
        if (k === 3 && taps === 9) {
          kernelGradNineTaps(heap, dyBase, dkBase, groups, gc, tapOffset);
          continue;
        }
        for (let t = 0; t < taps; t++) {
          const xBase = tapOffset[t];
          const dkTap = dkBase + tapIndex[t] * groups;
          for (let g = 0, ch = 0; g < groups; g++) {
            let dot = 0;
            for (let e = 0; e < gc; e++, ch++) {
              dot += heap[dyBase + ch] * heap[xBase + ch];
            }
            heap[dkTap + g] = dot;
          }
        }
      }
    }
  }
  if (geo.strides === 1) {
    inputGradGather(heap, dyAt, kAt, dxAt, geo);
  } else {
    inputGradScatter(heap, dyAt, xAt, kAt, dxAt, geo);
  }
}

function kernelGradNineTaps(
  heap: Float32Array,
  dyBase: number,
  dkBase: number,
  groups: number,
  gc: number,
  tapOffset: Int32Array,
): void {
  const o0 = tapOffset[0], o1 = tapOffset[1], o2 = tapOffset[2];
  const o3 = tapOffset[3], o4 = tapOffset[4], o5 = tapOffset[5];
  const o6 = tapOffset[6], o7 = tapOffset[7], o8 = tapOffset[8];
  for (let g = 0; g < groups; g++) {
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0, d8 = 0;
    for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
      const grad = heap[dyBase + ch];
      d0 += grad * heap[o0 + ch];
      d1 += grad * heap[o1 + ch];
      d2 += grad * heap[o2 + ch];
      d3 += grad * heap[o3 + ch];
      d4 += grad * heap[o4 + ch];
      d5 += grad * heap[o5 + ch];
      d6 += grad * heap[o6 + ch];
      d7 += grad * heap[o7 + ch];
      d8 += grad * heap[o8 + ch];
    }
    heap[dkBase + g] = d0;
    heap[dkBase + groups + g] = d1;
    heap[dkBase + 2 * groups + g] = d2;
    heap[dkBase + 3 * groups + g] = d3;
    heap[dkBase + 4 * groups + g] = d4;
    heap[dkBase + 5 * groups + g] = d5;
    heap[dkBase + 6 * groups + g] = d6;
    heap[dkBase + 7 * groups + g] = d7;
    heap[dkBase + 8 * groups + g] = d8;
  }
}

/**
 * dx for stride 1 as a gather: each input pixel sums, over the taps that
 * see it, that output pixel's kernel weight times its dy. No scattered
 * read-modify-writes, so each dx element is written once.
 */
function inputGradGather(
  heap: Float32Array,
  dyAt: number,
  kAt: number,
  dxAt: number,
  geo: InvolutionGeometry,
): void {
  const { n, h, w, c, outH, outW, groups, kernelSize: k } = geo;
  const gc = geo.groupChannels;
  const p = (k - 1) >> 1;
  const kk = k * k * groups;
  const dyOffset = new Int32Array(k * k);
  const kOffset = new Int32Array(k * k);
  const weights = new Float32Array(k * k);
  for (let img = 0; img < n; img++) {
    for (let row = 0; row < h; row++) {
      for (let col = 0; col < w; col++) {
        let taps = 0;
        for (let u = 0; u < k; u++) {
          const i = row + p - u;
          if (i < 0 || i >= outH) continue;
          for (let v = 0; v < k; v++) {
            const j = col + p - v;
            if (j < 0 || j >= outW) continue;
            const pixel = (img * outH + i) * outW + j;
            dyOffset[taps] = dyAt + pixel * c;
            kOffset[taps] = kAt + pixel * kk + (u * k + v) * groups;
            taps++;
          }
        }
        const dxBase = dxAt + ((img * h + row) * w + col) * c;
        if (k === 3 && taps === 9) {
          gatherNineTaps(heap, dxBase, groups, gc, dyOffset, kOffset);
          continue;
        }
        for (let g = 0; g < groups; g++) {
          for (let t = 0; t < taps; t++) weights[t] = heap[kOffset[t] + g];
          for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
            let sum = 0;
            for (let t = 0; t < taps; t++) {
              sum += weights[t] * heap[dyOffset[t] + ch];
            }
            heap[dxBase + ch] = sum;
          }
        }
      }
    }
  }
}

function gatherNineTaps(
  heap: Float32Array,
  dxBase: number,
  groups: number,
  gc: number,
  dyOffset: Int32Array,
  kOffset: Int32Array,
): void {
  const o0 = dyOffset[0], o1 = dyOffset[1], o2 = dyOffset[2];
  const o3 = dyOffset[3], o4 = dyOffset[4], o5 = dyOffset[5];
  const o6 = dyOffset[6], o7 = dyOffset[7], o8 = dyOffset[8];
  for (let g = 0; g < groups; g++) {
    const w0 = heap[kOffset[0] + g], w1 = heap[kOffset[1] + g];
    const w2 = heap[kOffset[2] + g], w3 = heap[kOffset[3] + g];
    const w4 = heap[kOffset[4] + g], w5 = heap[kOffset[5] + g];
    const w6 = heap[kOffset[6] + g], w7 = heap[kOffset[7] + g];
    const w8 = heap[kOffset[8] + g];
    for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
      heap[dxBase + ch] = w0 * heap[o0 + ch] + w1 * heap[o1 + ch] +
        w2 * heap[o2 + ch] + w3 * heap[o3 + ch] + w4 * heap[o4 + ch] +
        w5 * heap[o5 + ch] + w6 * heap[o6 + ch] + w7 * heap[o7 + ch] +
        w8 * heap[o8 + ch];
    }
  }
}

/** dx for strides above 1: each output pixel adds into the inputs it saw. */
function inputGradScatter(
  heap: Float32Array,
  dyAt: number,
  xAt: number,
  kAt: number,
  dxAt: number,
  geo: InvolutionGeometry,
): void {
  const { n, h, w, c, outH, outW, groups, kernelSize: k } = geo;
  const gc = geo.groupChannels;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  heap.fill(0, dxAt, dxAt + n * h * w * c);
  for (let img = 0; img < n; img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const dyBase = dyAt + pixel * c;
        const kBase = kAt + pixel * kk;
        const taps = validTaps(geo, xAt, img, i, j, tapIndex, tapOffset);
        for (let t = 0; t < taps; t++) {
          const dxBase = tapOffset[t] - xAt + dxAt;
          const kTap = kBase + tapIndex[t] * groups;
          for (let g = 0, ch = 0; g < groups; g++) {
            const weight = heap[kTap + g];
            for (let e = 0; e < gc; e++, ch++) {
              heap[dxBase + ch] += weight * heap[dyBase + ch];
            }
          }
        }
      }
    }
  }
}

/** The gradient of {@linkcode INVOLUTION}: one backward kernel call. */
export const involutionGradient: GradConfig = {
  kernelName: INVOLUTION,
  inputsToSave: ["x", "kernels"],
  gradFunc: (dy, saved, attrs) => {
    const [x, kernels] = saved;
    const [dx, dKernels] = tf.engine().runKernel(
      INVOLUTION_GRAD,
      { dy: dy as tf.Tensor, x, kernels },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    return { x: () => dx, kernels: () => dKernels };
  },
};
