import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { type SgemmCall, splitRows } from "./sgemm_call.ts";
import {
  applyActivation,
  byteOffset,
  fillRows,
  heapBuffer,
  release,
  runKernel,
  type WasmBackendLike,
} from "./heap.ts";

/** Inputs and attributes of a (fused) batched matmul. */
export interface MatMulRequest {
  /** Left operand, rank >= 2. */
  a: tf.TensorInfo;
  /** Right operand, rank >= 2. */
  b: tf.TensorInfo;
  /** Whether to use the transpose of `a`'s last two dimensions. */
  transposeA: boolean;
  /** Whether to use the transpose of `b`'s last two dimensions. */
  transposeB: boolean;
  /** Optional bias added to every row of the result. */
  bias?: tf.TensorInfo;
}

// For each output batch index, the batch index of an operand whose outer
// dimensions broadcast against `outer`.
function batchIndices(operandOuter: number[], outer: number[]): Int32Array {
  const total = outer.reduce((p, d) => p * d, 1);
  const indices = new Int32Array(total);
  const rankGap = outer.length - operandOuter.length;
  const strides = new Array<number>(operandOuter.length);
  let stride = 1;
  for (let axis = operandOuter.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= operandOuter[axis];
  }
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let index = 0;
    for (let axis = outer.length - 1; axis >= 0; axis--) {
      const coordinate = rest % outer[axis];
      rest = Math.floor(rest / outer[axis]);
      const own = axis - rankGap;
      if (own >= 0 && operandOuter[own] !== 1) {
        index += coordinate * strides[own];
      }
    }
    indices[flat] = index;
  }
  return indices;
}

/**
 * Computes `op(a) · op(b) (+ bias)` with one sgemm per output batch (or one
 * sgemm in all when `b` is shared and `a` is not transposed).
 */
export function nativeMatMul(
  blas: Blas,
  backend: WasmBackendLike,
  request: MatMulRequest,
): tf.TensorInfo {
  const { a, b, transposeA, transposeB, bias } = request;
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new Error(
      `matMul: native path takes float32 operands, got ${a.dtype} and ${b.dtype}`,
    );
  }
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (aRank < 2 || bRank < 2) {
    throw new Error(
      `matMul: operands need rank >= 2, got shapes [${a.shape}] and [${b.shape}]`,
    );
  }
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const kB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  if (k !== kB) {
    throw new Error(
      `matMul: inner shapes (${k}) and (${kB}) of tensors with shapes ` +
        `[${a.shape}] and [${b.shape}] and transposeA=${transposeA} and ` +
        `transposeB=${transposeB} must match`,
    );
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batches = outer.reduce((p, d) => p * d, 1);
  const batchesA = outerA.reduce((p, d) => p * d, 1);
  const batchesB = outerB.reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([...outer, m, n], "float32");
  if (batches * m * n === 0) return out;

  const fusedBias = bias !== undefined &&
    tf.util.sizeFromShape(bias.shape) === n &&
    (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] === n);
  const heap = heapBuffer(backend);
  const floats = new Float32Array(heap);
  const aOffset = byteOffset(backend, a);
  const bOffset = byteOffset(backend, b);
  const outOffset = byteOffset(backend, out);
  let beta = 0;
  if (fusedBias) {
    const biasStart = byteOffset(backend, bias!) / 4;
    const row = floats.slice(biasStart, biasStart + n);
    fillRows(floats, outOffset / 4, row, batches * m);
    beta = 1;
  } else if (k === 0) {
    floats.fill(0, outOffset / 4, outOffset / 4 + batches * m * n);
  }
  if (k > 0) {
    const lda = transposeA ? m : k;
    const ldb = transposeB ? k : n;
    const calls: SgemmCall[] = [];
    if (!transposeA && batchesB === 1) {
      // A shared right operand: the batches of `a` stack into one tall matrix.
      calls.push({
        transA: false,
        transB: transposeB,
        m: batches * m,
        n,
        k,
        alpha: 1,
        a: aOffset,
        lda,
        b: bOffset,
        ldb,
        beta,
        c: outOffset,
        ldc: n,
      });
    } else {
      const sameOuter = batchesA === batches && batchesB === batches &&
        outerA.length === outerB.length;
      const indexA = sameOuter || batchesA === 1
        ? undefined
        : batchIndices(outerA, outer);
      const indexB = sameOuter || batchesB === 1
        ? undefined
        : batchIndices(outerB, outer);
      for (let batch = 0; batch < batches; batch++) {
        const ia = batchesA === 1 ? 0 : indexA ? indexA[batch] : batch;
        const ib = batchesB === 1 ? 0 : indexB ? indexB[batch] : batch;
        calls.push({
          transA: transposeA,
          transB: transposeB,
          m,
          n,
          k,
          alpha: 1,
          a: aOffset + ia * m * k * 4,
          lda,
          b: bOffset + ib * k * n * 4,
          ldb,
          beta,
          c: outOffset + batch * m * n * 4,
          ldc: n,
        });
      }
    }
    // Every call writes its own rows of the output: each is a group, and a
    // lone call is cut by rows so that both threads have a share.
    const pieces = calls.length === 1 ? splitRows(calls[0], 4) : calls;
    blas.sgemmGroups(heap, pieces.map((call) => [call]));
  }
  if (bias !== undefined && !fusedBias) {
    const sum = runKernel("Add", backend, { a: out, b: bias });
    release(backend, out);
    return sum;
  }
  return out;
}

/** A kernel config for `BatchMatMul` on wasm that calls native sgemm. */
export function nativeBatchMatMulConfig(blas: Blas): tf.KernelConfig {
  return {
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as {
        transposeA: boolean;
        transposeB: boolean;
      };
      return nativeMatMul(blas, backend as unknown as WasmBackendLike, {
        a,
        b,
        transposeA: Boolean(transposeA),
        transposeB: Boolean(transposeB),
      });
    },
  };
}

/** A kernel config for `_FusedMatMul` on wasm: sgemm, bias, then activation. */
export function nativeFusedMatMulConfig(blas: Blas): tf.KernelConfig {
  return {
    kernelName: "_FusedMatMul",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b, bias, preluActivationWeights } = inputs as {
        a: tf.TensorInfo;
        b: tf.TensorInfo;
        bias?: tf.TensorInfo;
        preluActivationWeights?: tf.TensorInfo;
      };
      const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as {
        transposeA: boolean;
        transposeB: boolean;
        activation?: string;
        leakyreluAlpha?: number;
      };
      const wasm = backend as unknown as WasmBackendLike;
      const product = nativeMatMul(blas, wasm, {
        a,
        b,
        transposeA: Boolean(transposeA),
        transposeB: Boolean(transposeB),
        bias: bias ?? undefined,
      });
      return applyActivation(
        wasm,
        product,
        activation,
        preluActivationWeights ?? undefined,
        leakyreluAlpha,
      );
    },
  };
}
