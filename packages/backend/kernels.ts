/**
 * The kernels `initBackend` registers, for use on their own: the CNN and
 * fused ViT kernels of the wasm backend, the training kernels wasm lacks,
 * the WebGPU kernels, their gradients and registration functions.
 *
 * ```ts
 * import { registerCnnKernels } from "@vitkd/backend/kernels";
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 *
 * await tf.setBackend("wasm");
 * console.log(registerCnnKernels());
 * ```
 *
 * @module
 */
export * from "./cnn_kernels/mod.ts";
export * from "./fused/mod.ts";
export * from "./wasm_kernels/mod.ts";
export * from "./webgpu/mod.ts";
export * from "./tf_types.ts";
