/**
 * The native 2-D convolution kernels, one per file as in tfjs-backend-wasm:
 * `conv2d.ts`, `fused_conv2d.ts`, `conv2d_backprop_input.ts` and
 * `conv2d_backprop_filter.ts`, sharing the planning (`_conv_plan.ts`), the
 * tap geometry (`_conv_taps.ts`) and the sgemm grouping (`_conv_sgemm.ts`).
 * `register.ts` lists them. This module re-exports their public parts.
 *
 * @module
 */
export {
  type ConvPlan,
  nativeForwardPays,
  planConv,
  usesPhases,
} from "./_conv_plan.ts";
export { nativeConv2D, nativeConv2DConfig } from "./conv2d.ts";
export { nativeFusedConv2DConfig } from "./fused_conv2d.ts";
export {
  nativeConv2DBackpropInput,
  nativeConv2DBackpropInputConfig,
} from "./conv2d_backprop_input.ts";
export {
  nativeConv2DBackpropFilter,
  nativeConv2DBackpropFilterConfig,
} from "./conv2d_backprop_filter.ts";
