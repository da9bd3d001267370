/**
 * WebGPU kernels of the toolkit and the work counter its budget tests use.
 *
 * @module
 */
export * from "./adamw_update.ts";
export {
  ADD_RELU,
  fusedAddRelu,
  hasFusedAddRelu,
  RELU_GRAD,
} from "./add_relu.ts";
export * from "./global_norm.ts";
export * from "./work_counter.ts";
export { type DispatchListener, onRawDispatch } from "./raw_dispatch.ts";
export * from "./register.ts";
export { registerWebGpuBackendWithWideBindings } from "./device.ts";
export { movingAveragesInPlace } from "./moving_average.ts";
export {
  fusedObjective,
  hasFusedObjective,
  type ObjectiveAttrs,
} from "./objective.ts";
