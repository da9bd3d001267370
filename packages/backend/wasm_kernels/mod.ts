/**
 * The kernels the tfjs wasm backend needs to train this project's models,
 * composed from the backend's own fast kernels.
 *
 * ```ts
 * import { registerWasmTrainingKernels } from "@vitkd/backend/kernels";
 *
 * console.log(registerWasmTrainingKernels());
 * ```
 *
 * @module
 */
export { registerWasmTrainingKernels } from "./register.ts";
export { conv2dBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
