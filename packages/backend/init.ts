import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { BackendError } from "./errors.ts";
import {
  disableNativeKernels,
  dnnlKernelsEnabled,
  enableNativeKernels,
  loadNativeBlas,
  loadNativeDnnl,
} from "./native/register.ts";
import { registerWasmTrainingKernels } from "./wasm_kernels/register.ts";
import { registerCnnKernels } from "./cnn_kernels/register.ts";
import { registerFusedKernels } from "./fused/register.ts";
import { registerReductionGradients } from "./reduction_gradients.ts";
import type { WebGpuBackendInternals } from "./webgpu/_backend.ts";
import { installUploadPath } from "./webgpu/uploads.ts";
import { registerWebGpuKernels } from "./webgpu/register.ts";
import { registerWebGpuBackendWithWideBindings } from "./webgpu/device.ts";

/** A backend the toolkit can run on; `auto` picks the fastest one available. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "cpu";

/** The backend names `initBackend` accepts. */
export const BACKEND_CHOICES: readonly BackendChoice[] = [
  "auto",
  "webgpu",
  "wasm",
  "cpu",
];

/** What `initBackend` chose and what the chosen backend can do. */
export interface BackendInfo {
  /** The backend tfjs now runs on. */
  name: "webgpu" | "wasm" | "cpu";
  /** Why this backend was chosen. */
  reason: string;
  /** The WebGPU adapter's description, when Deno offers one. */
  adapter?: string;
  /** Whether the WebGPU adapter is a software fallback (e.g. llvmpipe). */
  adapterIsFallback?: boolean;
  /** Whether the wasm backend runs with SIMD. */
  wasmSimd?: boolean;
  /** Whether the wasm backend runs with threads. */
  wasmThreads?: boolean;
  /** The native BLAS library wasm matmuls and convolutions call, when on. */
  native?: string;
  /** Why the native BLAS path is off, when the backend is wasm. */
  nativeOff?: string;
  /** oneDNN, its threads and the kernels it takes, when on. */
  dnnl?: string;
  /** Why oneDNN is off, when the backend is wasm. */
  dnnlOff?: string;
}

interface AdapterProbe {
  description: string;
  isFallback: boolean;
}

async function probeAdapter(): Promise<AdapterProbe | undefined> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return undefined;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = adapter as GPUAdapter & { isFallbackAdapter?: boolean };
  return {
    description: info.description || info.vendor || "unknown adapter",
    isFallback: Boolean(info.isFallbackAdapter ?? legacy.isFallbackAdapter),
  };
}

/** Options for {@linkcode initBackend}. */
export interface InitBackendOptions {
  /** Which backend to use; `auto` (the default) picks one. */
  backend?: BackendChoice;
  /**
   * On wasm, whether matmuls and convolutions call a native BLAS, and
   * convolutions oneDNN, through FFI: `auto` (the default) uses each when it
   * is found and `--allow-ffi` is given (`VITKD_DNNL=0` keeps oneDNN off);
   * `on` requires a BLAS and throws a {@linkcode BackendError} (code
   * `native-unavailable`) naming why there is none; `off` keeps the pure
   * wasm kernels. Ignored on the other backends.
   */
  native?: "auto" | "on" | "off";
}

/**
 * Readies tfjs for this process and reports what it chose.
 *
 * `auto` picks WebGPU when Deno offers a hardware adapter, else wasm, else
 * cpu. Naming a backend forces it; one that cannot start throws a
 * {@linkcode BackendError} that names it.
 *
 * On wasm it registers the kernels training needs that stock wasm lacks or
 * runs slowly (`registerWasmTrainingKernels`), before any native BLAS kernels.
 */
export async function initBackend(
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  const choice = options.backend ?? "auto";
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new BackendError(
      `unknown backend "${choice}": expected one of ${
        BACKEND_CHOICES.join(", ")
      }`,
      { code: "unknown-backend" },
    );
  }
  const native = options.native ?? "auto";
  if (!NATIVE_CHOICES.includes(native)) {
    throw new BackendError(
      `unknown native option "${native}": expected one of ${
        NATIVE_CHOICES.join(", ")
      }`,
      { code: "bad-option" },
    );
  }
  const probe = choice === "auto" || choice === "webgpu"
    ? await probeAdapter()
    : undefined;
  let name: BackendInfo["name"];
  let reason: string;
  if (choice === "auto") {
    if (probe && !probe.isFallback) {
      name = "webgpu";
      reason = "auto: hardware WebGPU adapter found";
    } else {
      name = "wasm";
      reason = probe
        ? "auto: WebGPU adapter is a software fallback, wasm is faster"
        : "auto: no WebGPU adapter";
    }
  } else {
    name = choice;
    reason = `forced by --backend ${choice}`;
  }
  if (name === "webgpu" && !probe) {
    throw new BackendError(
      "backend webgpu: Deno offers no WebGPU adapter here; use --backend wasm or cpu",
    );
  }
  // before tfjs makes its device: ours binds as many buffers as the adapter
  if (name === "webgpu") registerWebGpuBackendWithWideBindings();
  let ok = await tf.setBackend(name);
  if (!ok && choice === "auto" && name === "wasm") {
    name = "cpu";
    reason = "auto: wasm failed to start";
    ok = await tf.setBackend(name);
  }
  if (!ok) throw new BackendError(`backend ${name} failed to start`);
  await tf.ready();
  const info: BackendInfo = { name, reason };
  // the same values on every backend, without a full-size upload on WebGPU
  registerReductionGradients();
  if (name === "webgpu") {
    installUploadPath(
      tf.backend() as unknown as WebGpuBackendInternals,
    );
    registerWebGpuKernels();
    reportDeviceErrors(tf.backend() as unknown as WebGpuBackendInternals);
  }
  if (probe) {
    info.adapter = probe.description;
    info.adapterIsFallback = probe.isFallback;
  }
  if (name === "wasm") {
    // Before applyNative: native kernels displace and fall back to these.
    registerWasmTrainingKernels();
    registerCnnKernels();
    registerFusedKernels();
    info.wasmSimd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    info.wasmThreads = Boolean(
      await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
    );
  }
  // Last, so the native kernels override any other wasm registrations.
  applyNative(info, native);
  return info;
}

// A shader or bind group that fails validation invalidates its whole
// submission and leaves zeros behind; say so instead of training on them.
function reportDeviceErrors(backend: WebGpuBackendInternals): void {
  const device = backend.device as GPUDevice & { vitkdErrors?: boolean };
  if (device.vitkdErrors) return;
  device.vitkdErrors = true;
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    console.error(`webgpu: the device reported an error: ${error.message}`);
  });
}

const NATIVE_CHOICES: readonly string[] = ["auto", "on", "off"];

function applyNative(
  info: BackendInfo,
  native: "auto" | "on" | "off",
): void {
  if (native === "off" || info.name !== "wasm") {
    disableNativeKernels();
    if (info.name === "wasm") info.nativeOff = info.dnnlOff = "native: off";
    return;
  }
  const { blas, status } = loadNativeBlas();
  const { dnnl, status: dnnlStatus } = loadNativeDnnl();
  if (native === "on" && !blas) {
    disableNativeKernels();
    throw new BackendError(
      `native BLAS was required but is unavailable: ${status.reason}`,
      { code: "native-unavailable" },
    );
  }
  if (!blas && !dnnl) {
    disableNativeKernels();
    info.nativeOff = status.reason;
    info.dnnlOff = dnnlStatus.reason;
    return;
  }
  enableNativeKernels(blas, undefined, { dnnl });
  if (blas) {
    info.native = `${status.library} (${status.threads} threads${
      blas.helperThread ? " + a helper thread" : ""
    })`;
  } else {
    info.nativeOff = status.reason;
  }
  if (dnnl) {
    info.dnnl =
      `${dnnl.library} ${dnnl.version} (${dnnl.threads} threads, ${dnnl.filterGradientThreads} for filter gradients; ${
        dnnlKernelsEnabled().join(", ")
      })`;
  } else {
    info.dnnlOff = dnnlStatus.reason;
  }
}

/** One line describing the backend, for logs and reports. */
export function describeBackend(info: BackendInfo): string {
  const parts: string[] = [info.name];
  if (info.name === "wasm") {
    parts.push(`simd ${info.wasmSimd ? "on" : "off"}`);
    parts.push(`threads ${info.wasmThreads ? "on" : "off"}`);
    parts.push(
      info.native ? `native ${info.native}` : `native off (${info.nativeOff})`,
    );
    parts.push(
      info.dnnl ? `oneDNN ${info.dnnl}` : `oneDNN off (${info.dnnlOff})`,
    );
  }
  if (info.adapter) {
    parts.push(
      `adapter ${info.adapter}${info.adapterIsFallback ? " (software)" : ""}`,
    );
  }
  return `${parts.join(", ")} (${info.reason})`;
}
