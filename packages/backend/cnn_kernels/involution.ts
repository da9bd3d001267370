import * as tf from "@tensorflow/tfjs";
import { asWasm, locate, requireFloat, WASM } from "./heap_view.ts";
import { LoopId } from "../native/loops.ts";
import { heapMemory } from "../native/heap.ts";
import {
  type InvolutionSimd,
  involutionSimd,
} from "../wasm_simd/involution_simd.ts";
import { runHeapLoop } from "../fused/parallel_loops.ts";
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

// The geometry as the heap loops read it (involution_loops.ts).
function geometryArgs(geo: InvolutionGeometry): number[] {
  return [geo.h, geo.w, geo.c, geo.groups, geo.kernelSize, geo.strides];
}

// Multiply-adds per image of each heap loop: runHeapLoop's unit, which
// decides whether a call is large enough to share with the helper thread.
function tapWorkPerImage(geo: InvolutionGeometry): number {
  return geo.outH * geo.outW * geo.c * geo.kernelSize * geo.kernelSize;
}

/**
 * The SIMD kernels for this geometry when they can run on these tensors
 * (float offsets `at`): a tap's base may lie before a tensor, so each must
 * start at least `reach` bytes into the heap.
 */
function simdFor(
  backend: ReturnType<typeof asWasm>,
  geo: InvolutionGeometry,
  at: number[],
): InvolutionSimd | undefined {
  if (geo.n === 0) return undefined;
  const simd = involutionSimd(heapMemory(backend), {
    h: geo.h,
    w: geo.w,
    c: geo.c,
    groups: geo.groups,
    k: geo.kernelSize,
    s: geo.strides,
  });
  return simd && at.every((floats) => floats * 4 >= simd.reach)
    ? simd
    : undefined;
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
    const { at } = locate(backend, [x, kernels, y]);
    // SIMD on this thread: 6-9x the heap loop's speed, so no helper share
    const simd = simdFor(backend, geo, at);
    if (simd) {
      simd.forward(at[0] * 4, at[1] * 4, at[2] * 4, 0, geo.n);
      return y;
    }
    runHeapLoop(
      backend,
      LoopId.InvolutionForward,
      [...at, ...geometryArgs(geo)],
      geo.n,
      tapWorkPerImage(geo),
    );
    return y;
  },
};

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
    const { at } = locate(backend, [dy, x, kernels, dx, dKernels]);
    const [dyAt, xAt, kAt, dxAt, dkAt] = at;
    const simd = simdFor(backend, geo, at);
    if (simd) {
      simd.kernelGrad(dyAt * 4, xAt * 4, dkAt * 4, 0, geo.n);
      simd.gather(dyAt * 4, kAt * 4, dxAt * 4, 0, geo.n);
      return [dx, dKernels];
    }
    const geometry = geometryArgs(geo);
    const perImage = tapWorkPerImage(geo);
    runHeapLoop(
      backend,
      LoopId.InvolutionKernelGrad,
      [dyAt, xAt, dkAt, ...geometry],
      geo.n,
      perImage,
    );
    runHeapLoop(
      backend,
      geo.strides === 1 ? LoopId.InvolutionGather : LoopId.InvolutionScatter,
      [dyAt, kAt, dxAt, ...geometry],
      geo.n,
      perImage,
    );
    return [dx, dKernels];
  },
};

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
