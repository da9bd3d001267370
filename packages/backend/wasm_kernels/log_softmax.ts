import type * as tf from "@tensorflow/tfjs";
import {
  type TensorInfo,
  WASM,
  type WasmBackendLike,
  withScratch,
} from "./kernel_util.ts";

/**
 * `LogSoftmax` (input `logits`, attr `axis`): x - max - log(sum(exp(x - max)))
 * along `axis`, the max subtracted first so that exp cannot overflow.
 */
export const logSoftmaxConfig: tf.KernelConfig = {
  kernelName: "LogSoftmax",
  backendName: WASM,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const logits = inputs.logits as TensorInfo;
    const rank = logits.shape.length;
    const rawAxis = (attrs as { axis?: number } | undefined)?.axis ?? -1;
    const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
      throw new Error(
        `wasm LogSoftmax: axis ${rawAxis} is out of range for rank ${rank}`,
      );
    }
    if (logits.dtype !== "float32") {
      throw new Error(
        `wasm LogSoftmax: logits must be float32, got ${logits.dtype}`,
      );
    }
    return withScratch(backend as unknown as WasmBackendLike, (scratch) => {
      const reduce = { reductionIndices: [axis], axis: [axis], keepDims: true };
      const max = scratch.run("Max", { x: logits }, reduce);
      const shifted = scratch.run("Sub", { a: logits, b: max });
      const exps = scratch.run("Exp", { x: shifted });
      const total = scratch.run("Sum", { x: exps }, reduce);
      const logTotal = scratch.run("Log", { x: total });
      return scratch.keep(scratch.run("Sub", { a: shifted, b: logTotal }));
    });
  },
};
