import * as tf from "@tensorflow/tfjs";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

// tfjs asks for these adapter limits; we ask for the same and more storage
// buffers per shader stage, so one dispatch can update many variables.
const TFJS_LIMITS = [
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupSizeX",
  "maxComputeInvocationsPerWorkgroup",
] as const;

/**
 * Registers tfjs's `webgpu` backend anew with a device that has the
 * adapter's own `maxStorageBuffersPerShaderStage` (tfjs keeps WebGPU's
 * default of 8), unless the backend is already running: its tensors live on
 * the device it has. Everything else is as tfjs makes it.
 */
export function registerWebGpuBackendWithWideBindings(): void {
  const engine = tf.engine() as unknown as {
    registry: Record<string, unknown>;
  };
  if (engine.registry["webgpu"]) return;
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return;
  tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", async () => {
    const adapter = await gpu.requestAdapter({
      powerPreference: tf.env().get("WEBGPU_USE_LOW_POWER_GPU")
        ? "low-power"
        : "high-performance",
    });
    if (!adapter) throw new Error("webgpu: no adapter");
    const requiredLimits: Record<string, number> = {
      maxStorageBuffersPerShaderStage:
        adapter.limits.maxStorageBuffersPerShaderStage,
    };
    for (const name of TFJS_LIMITS) requiredLimits[name] = adapter.limits[name];
    const requiredFeatures: GPUFeatureName[] = [];
    if (adapter.features.has("timestamp-query")) {
      requiredFeatures.push("timestamp-query");
    }
    const device = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures,
    });
    return new WebGPUBackend(device, adapter.info);
  }, 3);
}

/** How many storage buffers one of our shaders may bind on `device`. */
export function storageBuffersPerStage(device: GPUDevice): number {
  return device.limits.maxStorageBuffersPerShaderStage;
}
