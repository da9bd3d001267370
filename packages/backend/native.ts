/**
 * The native BLAS path of the wasm backend: OpenBLAS (or Accelerate) through
 * Deno FFI for matrix products and convolutions, and the helper thread that
 * shares them with a second core. `initBackend` turns it on when it can.
 *
 * ```ts
 * import { loadNativeBlas } from "@vitkd/backend/native";
 *
 * const { blas, status } = loadNativeBlas();
 * console.log(blas ? "native BLAS found" : "no native BLAS here", status);
 * ```
 *
 * @module
 */
export * from "./native/mod.ts";
export * from "./tf_types.ts";
