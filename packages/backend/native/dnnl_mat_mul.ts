// The oneDNN `BatchMatMul` and `_FusedMatMul` kernels: one matmul primitive
// per call over the whole batch (the sgemm kernels make one call per batch
// when both operands have one), transposes as strides, the bias and the
// activation as post-ops. What oneDNN does not take (other ranks, batches
// that broadcast otherwise, a bias of another shape, prelu) goes to the
// kernel underneath.
import type * as tf from "@tensorflow/tfjs";
import type { Dnnl } from "./dnnl.ts";
import {
  byteOffset,
  heapBuffer,
  release,
  type WasmBackendLike,
} from "./heap.ts";
import { type DnnlActivation, eltwiseFor } from "./_dnnl_conv.ts";
import { dnnlKernelConfig } from "./_dnnl_kernel.ts";
import { dnnlMatMulCache, type MatMulPlan } from "./_dnnl_matmul.ts";

/**
 * `op(a) · op(b) (+ bias)`, then `activation`, for float32 operands of rank
 * 3 or 2 (a batch of one: tfjs's matMul op hands rank-2 operands over as
 * they are) through oneDNN; returns `[batch, m, n]` (`[m, n]` when both are
 * rank 2, as wasm's own kernel does), or why oneDNN could not run it.
 */
export function dnnlMatMul(
  dnnl: Dnnl,
  backend: WasmBackendLike,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias?: tf.TensorInfo,
  activation?: DnnlActivation,
): tf.TensorInfo | string {
  if (a.dtype !== "float32" || b.dtype !== "float32") return "not float32";
  const rank3 = (shape: number[]) => shape.length === 2 ? [1, ...shape] : shape;
  if (![2, 3].includes(a.shape.length) || ![2, 3].includes(b.shape.length)) {
    return "not rank 2 or 3";
  }
  const [batchA, a1, a2] = rank3(a.shape);
  const [batchB, b1, b2] = rank3(b.shape);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    return "batches do not broadcast";
  }
  const [m, k] = transposeA ? [a2, a1] : [a1, a2];
  const [kB, n] = transposeB ? [b2, b1] : [b1, b2];
  if (k !== kB) return "inner dimensions differ";
  if (m * n * k === 0) return "empty";
  if (bias) {
    const size = bias.shape.reduce((p, d) => p * d, 1);
    if (
      bias.dtype !== "float32" || size !== n ||
      (bias.shape.length > 0 && bias.shape[bias.shape.length - 1] !== n)
    ) {
      return "bias is not one value per column";
    }
  }
  if (activation && !eltwiseFor(activation)) {
    return `no post-op for ${activation.name}`;
  }
  const plan: MatMulPlan = {
    batchA,
    batchB,
    m,
    k,
    n,
    transposeA,
    transposeB,
    bias: bias !== undefined,
    activation,
  };
  const op = dnnlMatMulCache(dnnl).get(plan);
  if (typeof op === "string") return op;
  const out = backend.makeOutput(
    a.shape.length === 2 && b.shape.length === 2
      ? [m, n]
      : [Math.max(batchA, batchB), m, n],
    "float32",
  );
  // offsets after the last allocation: the heap may have grown
  const offsets = [a, b, out, ...(bias ? [bias] : [])].map((t) =>
    byteOffset(backend, t)
  );
  try {
    dnnl.withThreads(op.threads, () => op.run(heapBuffer(backend), offsets));
  } catch (error) {
    release(backend, out);
    return (error as Error).message;
  }
  return out;
}

/** A `BatchMatMul` kernel config on wasm through oneDNN; `original` takes the rest. */
export function dnnlBatchMatMulConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("BatchMatMul", original, (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    return dnnlMatMul(
      dnnl,
      args.backend as unknown as WasmBackendLike,
      a,
      b,
      Boolean(attrs.transposeA),
      Boolean(attrs.transposeB),
    );
  });
}

/** A `_FusedMatMul` kernel config on wasm through oneDNN; `original` takes the rest. */
export function dnnlFusedMatMulConfig(
  dnnl: Dnnl,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return dnnlKernelConfig("_FusedMatMul", original, (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const attrs = args.attrs as {
      transposeA?: boolean;
      transposeB?: boolean;
      activation?: string;
      leakyreluAlpha?: number;
    };
    if (preluActivationWeights) return "prelu";
    const name = attrs.activation ?? "linear";
    return dnnlMatMul(
      dnnl,
      args.backend as unknown as WasmBackendLike,
      a,
      b,
      Boolean(attrs.transposeA),
      Boolean(attrs.transposeB),
      bias ?? undefined,
      name === "linear" ? undefined : { name, alpha: attrs.leakyreluAlpha },
    );
  });
}
