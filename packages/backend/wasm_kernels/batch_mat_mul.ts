import type * as tf from "@tensorflow/tfjs";
import {
  type Attrs,
  type TensorInfo,
  type WasmBackendLike,
  withScratch,
} from "./kernel_util.ts";

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function batchSize(a: TensorInfo, b: TensorInfo): number {
  const outer = (info: TensorInfo) =>
    info.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  return Math.max(outer(a), outer(b));
}

/**
 * Batched `_FusedMatMul` with a bias as separate wasm kernels: product,
 * bias add, activation. Why: stock wasm adds the bias to the wrong rows when
 * the batch is larger than one (e.g. [2,2,2]·[2,2,2] + [1,2] gives row 1
 * bias[1] twice).
 */
function unfusedMatMul(
  inputs: tf.NamedTensorInfoMap,
  backend: unknown,
  attrs: Attrs,
): TensorInfo {
  const { activation, leakyreluAlpha } = attrs as {
    activation?: string;
    leakyreluAlpha?: number;
  };
  return withScratch(backend as WasmBackendLike, (scratch) => {
    const product = scratch.run("BatchMatMul", {
      a: inputs.a as TensorInfo,
      b: inputs.b as TensorInfo,
    }, { transposeA: attrs.transposeA, transposeB: attrs.transposeB });
    let out = scratch.run("Add", { a: product, b: inputs.bias as TensorInfo });
    switch (activation ?? "linear") {
      case "linear":
        break;
      case "relu":
        out = scratch.run("Relu", { x: out });
        break;
      case "relu6":
        out = scratch.run("Relu6", { x: out });
        break;
      case "elu":
        out = scratch.run("Elu", { x: out });
        break;
      case "sigmoid":
        out = scratch.run("Sigmoid", { x: out });
        break;
      case "leakyrelu":
        out = scratch.run("LeakyRelu", { x: out }, {
          alpha: leakyreluAlpha ?? 0.2,
        });
        break;
      case "prelu":
        out = scratch.run("Prelu", {
          x: out,
          alpha: inputs.preluActivationWeights as TensorInfo,
        });
        break;
      default:
        throw new Error(
          `wasm _FusedMatMul: activation "${activation}" is not supported`,
        );
    }
    return scratch.keep(out);
  });
}

/**
 * Wraps a stock wasm matmul kernel (`BatchMatMul` or `_FusedMatMul`) so that
 * transposed operands are transposed explicitly first.
 *
 * Why: the stock wasm matmul runs its transposed cases in a scalar loop
 * while the plain case uses XNNPACK, an order of magnitude faster (figures
 * in docs/performance.md); every dense-layer gradient asks for a transposed
 * operand. A transpose is O(n^2) against the product's O(n^3).
 */
export function explicitTransposeMatMul(
  stock: tf.KernelConfig,
): tf.KernelConfig {
  const stockFunc = stock.kernelFunc;
  return {
    kernelName: stock.kernelName,
    backendName: stock.backendName,
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB } = (attrs ?? {}) as {
        transposeA?: boolean;
        transposeB?: boolean;
      };
      if (
        stock.kernelName === "_FusedMatMul" && inputs.bias &&
        batchSize(inputs.a as TensorInfo, inputs.b as TensorInfo) > 1
      ) {
        return unfusedMatMul(inputs, backend, attrs ?? {});
      }
      if (!transposeA && !transposeB) {
        return stockFunc({ inputs, backend, attrs });
      }
      return withScratch(backend as unknown as WasmBackendLike, (scratch) => {
        const a = inputs.a as TensorInfo;
        const b = inputs.b as TensorInfo;
        const plainInputs = { ...inputs } as Record<string, TensorInfo>;
        if (transposeA) {
          plainInputs.a = scratch.run("Transpose", { x: a }, {
            perm: swapLastTwo(a.shape.length),
          });
        }
        if (transposeB) {
          plainInputs.b = scratch.run("Transpose", { x: b }, {
            perm: swapLastTwo(b.shape.length),
          });
        }
        const plainAttrs: Attrs = {
          ...attrs,
          transposeA: false,
          transposeB: false,
        };
        return stockFunc({
          inputs: plainInputs as tf.NamedTensorInfoMap,
          backend,
          attrs: plainAttrs,
        });
      });
    },
  };
}
