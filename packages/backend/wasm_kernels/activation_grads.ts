import type * as tf from "@tensorflow/tfjs";
import {
  type TensorInfo,
  WASM,
  type WasmBackendLike,
  withScratch,
} from "./kernel_util.ts";

function assertSameShape(kernel: string, dy: TensorInfo, x: TensorInfo): void {
  if (dy.shape.join(",") !== x.shape.join(",")) {
    throw new Error(
      `wasm ${kernel}: dy has shape [${dy.shape}] but x has [${x.shape}]; they must match`,
    );
  }
}

/**
 * `ReluGrad` (TensorFlow's name; inputs `dy`, `x`): dy · step(x), i.e. dy
 * where x > 0 and 0 elsewhere, the same mask tfjs's Relu gradient uses.
 */
export const reluGradConfig: tf.KernelConfig = {
  kernelName: "ReluGrad",
  backendName: WASM,
  kernelFunc: ({ inputs, backend }) => {
    const dy = inputs.dy as TensorInfo;
    const x = inputs.x as TensorInfo;
    assertSameShape("ReluGrad", dy, x);
    return withScratch(backend as unknown as WasmBackendLike, (scratch) => {
      const mask = scratch.run("Step", { x }, { alpha: 0 });
      return scratch.keep(scratch.run("Multiply", { a: dy, b: mask }));
    });
  },
};

/**
 * `Relu6Grad` (inputs `dy`, `x`): dy where 0 < x <= 6, else 0, matching
 * tfjs's Relu6 gradient (step(x) · (x <= 6)).
 */
export const relu6GradConfig: tf.KernelConfig = {
  kernelName: "Relu6Grad",
  backendName: WASM,
  kernelFunc: ({ inputs, backend }) => {
    const dy = inputs.dy as TensorInfo;
    const x = inputs.x as TensorInfo;
    assertSameShape("Relu6Grad", dy, x);
    return withScratch(backend as unknown as WasmBackendLike, (scratch) => {
      const six = scratch.run("Fill", {}, {
        shape: [],
        value: 6,
        dtype: "float32",
      });
      const below = scratch.run("LessEqual", { a: x, b: six });
      const belowFloat = scratch.run("Cast", { x: below }, {
        dtype: "float32",
      });
      const positive = scratch.run("Step", { x }, { alpha: 0 });
      const mask = scratch.run("Multiply", { a: positive, b: belowFloat });
      return scratch.keep(scratch.run("Multiply", { a: dy, b: mask }));
    });
  },
};
