/**
 * Readies tfjs for training on this machine: picks WebGPU, wasm or cpu, and
 * completes the wasm backend with the gradient kernels it lacks.
 *
 * ```ts
 * import { describeBackend, initBackend } from "@vitkd/backend";
 *
 * const info = await initBackend({ backend: "auto" });
 * console.log(describeBackend(info));
 * ```
 *
 * @module
 */
export * from "./cnn_kernels/mod.ts";
export * from "./fused/mod.ts";
export * from "./init.ts";
export * from "./native/mod.ts";
export * from "./wasm_kernels/mod.ts";
export * from "./webgpu/mod.ts";
export * from "./tf_types.ts";
