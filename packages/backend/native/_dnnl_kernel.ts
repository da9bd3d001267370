// What the oneDNN convolution kernels share: one primitive cache per opened
// library, the thread count per primitive, running a primitive
// into fresh outputs, and the kernel config that falls back to the kernel it
// displaced. Private to dnnl_conv2d.ts, dnnl_fused_conv2d.ts,
// dnnl_conv2d_backprop_input.ts and dnnl_conv2d_backprop_filter.ts.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import {
  buildPrimitive,
  type DnnlConvKind,
  type DnnlConvOffsets,
  type DnnlConvPrimitive,
  type DnnlForwardOptions,
} from "./_dnnl_conv.ts";
import { type ConvPlan, fallback, type KernelArgs } from "./_conv_plan.ts";
import { perLibrary, PrimitiveCache } from "./_dnnl_objects.ts";
import {
  byteOffset,
  heapBuffer,
  release,
  type WasmBackendLike,
} from "./heap.ts";

function planKey(
  kind: DnnlConvKind,
  plan: ConvPlan,
  options: DnnlForwardOptions,
): string {
  const a = options.activation;
  return [
    kind,
    plan.n,
    plan.h,
    plan.w,
    plan.c,
    plan.outC,
    plan.kh,
    plan.kw,
    plan.stride,
    plan.dilationH,
    plan.dilationW,
    plan.outH,
    plan.outW,
    plan.top,
    plan.left,
    options.bias ? "bias" : "",
    a ? `${a.name}:${a.alpha ?? ""}` : "",
    options.residual ? "residual" : "",
  ].join(",");
}

/**
 * The convolution primitives made so far, one per shape, kind, bias and
 * activation: made on first use, kept (up to `capacity`, the oldest freed
 * first), and a shape the library refused is remembered with the reason.
 */
export class DnnlConvCache {
  readonly #made: PrimitiveCache<DnnlConvPrimitive>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /** The primitive for this call, or why oneDNN cannot run it. */
  get(
    kind: DnnlConvKind,
    plan: ConvPlan,
    options: DnnlForwardOptions = { bias: false },
  ): DnnlConvPrimitive | string {
    const threads = threadsFor(this.dnnl, kind, plan);
    return this.#made.get(
      planKey(kind, plan, options),
      threads,
      () => buildPrimitive(this.dnnl, kind, plan, options, threads),
    );
  }

  /** Each cached key with the implementation chosen or the reason refused. */
  report(): [string, string][] {
    return this.#made.report();
  }

  /** Frees every primitive. */
  clear(): void {
    this.#made.clear();
  }
}

/**
 * Below this many flops a primitive runs on one thread: at batch 1 on the
 * 2-core development machine, waking OpenMP's second thread cost more
 * (0.02-0.03 ms) than it saved on ResNet-8's convolutions (0.01-0.1 ms).
 */
export const MIN_SHARED_FLOPS = 2e7;

/** The multiply-adds times two of one convolution (any of the three kinds). */
export function convFlops(plan: ConvPlan): number {
  return 2 * plan.n * plan.outH * plan.outW * plan.outC * plan.kh * plan.kw *
    plan.c;
}

/** The threads oneDNN makes and runs the primitive of this kind and plan with. */
export function threadsFor(
  dnnl: Dnnl,
  kind: DnnlConvKind,
  plan: ConvPlan,
): number {
  if (convFlops(plan) < MIN_SHARED_FLOPS) return 1;
  return kind === "backwardWeights" ? dnnl.filterGradientThreads : dnnl.threads;
}

/** Runs `primitive` on the heap with OpenMP's team set for oneDNN. */
export function runDnnlConv(
  dnnl: Dnnl,
  primitive: DnnlConvPrimitive,
  heap: ArrayBufferLike,
  offsets: DnnlConvOffsets,
): void {
  dnnl.withThreads(
    primitive.threads,
    () => primitive.run(heap, offsets),
  );
}

/** The primitive cache of `dnnl` (one per opened library). */
export const dnnlCache: (dnnl: Dnnl) => DnnlConvCache = perLibrary(
  (dnnl) => new DnnlConvCache(dnnl),
);

/** One call's tensors for {@linkcode runInto}. */
export interface DnnlCall {
  /** The input, or the input gradient being made. */
  activation: tf.TensorInfo;
  /** The filter, or the filter gradient being made. */
  filter: tf.TensorInfo;
  /** The output being made, or the output gradient. */
  output: tf.TensorInfo;
  /** The per-channel bias, when the primitive adds one. */
  bias?: tf.TensorInfo;
  /** The tensor added before the activation, when the primitive adds one. */
  residual?: tf.TensorInfo;
}

/**
 * Makes the output of shape `shape`, runs the cached primitive for
 * (`kind`, `plan`, `options`) with `place(output)` as its tensors, and
 * returns the output; or, when oneDNN refused the shape or failed, frees
 * the output and returns why (the caller falls back).
 */
export function runInto(
  dnnl: Dnnl,
  backend: WasmBackendLike,
  kind: DnnlConvKind,
  plan: ConvPlan,
  shape: number[],
  place: (output: tf.TensorInfo) => DnnlCall,
  options: DnnlForwardOptions = { bias: false },
): tf.TensorInfo | string {
  const primitive = dnnlCache(dnnl).get(kind, plan, options);
  if (typeof primitive === "string") return primitive;
  const made = backend.makeOutput(shape, "float32");
  const call = place(made);
  // Offsets after the last allocation: the heap may have grown.
  const offsets: DnnlConvOffsets = {
    activation: byteOffset(backend, call.activation),
    filter: byteOffset(backend, call.filter),
    output: byteOffset(backend, call.output),
    bias: call.bias ? byteOffset(backend, call.bias) : undefined,
    residual: call.residual ? byteOffset(backend, call.residual) : undefined,
  };
  try {
    runDnnlConv(dnnl, primitive, heapBuffer(backend), offsets);
  } catch (error) {
    release(backend, made);
    return (error as Error).message;
  }
  return made;
}

/**
 * A kernel config on wasm whose `run` returns the result, or a reason to
 * call `original` (the kernel oneDNN displaced: the sgemm one, or wasm's).
 */
export function dnnlKernelConfig(
  kernelName: string,
  original: tf.KernelConfig | undefined,
  run: (args: KernelArgs) => tf.TensorInfo | string,
): tf.KernelConfig {
  return {
    kernelName,
    backendName: "wasm",
    kernelFunc: (args) => {
      const result = run(args);
      return typeof result === "string"
        ? fallback(original, kernelName, args, result)
        : result;
    },
  };
}
