/**
 * The optional native BLAS path for the wasm backend: OpenBLAS (or
 * Accelerate on macOS) opened through Deno FFI, and wasm kernels for
 * matmuls and 2-D convolutions that hand tensors on the wasm heap straight
 * to `cblas_sgemm`, sharing the sgemms of one kernel with a helper thread
 * (the second core; `VITKD_BLAS_HELPER=0` turns it off). When oneDNN
 * (libdnnl 2.x) loads too, its direct convolutions take the 2-D convolution
 * kernels ahead of the sgemm ones, its matmul the batched matmuls, and its
 * batch norm, layer norm, softmax and GELU the fused kernels' loops
 * (`VITKD_DNNL=0` turns it off). Needs
 * `--allow-ffi`; without it, or without a library, everything stays on the
 * pure wasm kernels.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { enableNativeKernels, loadNativeBlas, loadNativeDnnl } from "./mod.ts";
 *
 * await tf.setBackend("wasm");
 * const { blas, status } = loadNativeBlas();
 * const { dnnl } = loadNativeDnnl();
 * if (blas || dnnl) enableNativeKernels(blas, undefined, { dnnl });
 * else console.log(`native BLAS off: ${status.reason}`);
 * ```
 *
 * @module
 */
export * from "./blas.ts";
export {
  type Dnnl,
  DNNL_SYMBOLS,
  dnnlCandidates,
  type DnnlStatus,
  type DnnlSymbols,
  openDnnl,
  type OpenDnnlOptions,
} from "./dnnl.ts";
export * from "./register.ts";
export { BlasHelper } from "./blas_helper.ts";
export {
  balanceGroups,
  callFlops,
  type SgemmCall,
  splitRows,
} from "./sgemm_call.ts";
export { type ConvPlan, planConv } from "./conv.ts";
