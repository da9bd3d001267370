// Whether the WebAssembly SIMD kernels of this folder run: on unless
// VITKD_WASM_SIMD=0; off, their callers run the JavaScript loops.
import { readEnv } from "../native/_native_env.ts";

let enabled = readEnv("VITKD_WASM_SIMD") !== "0";

/**
 * Turns the WebAssembly SIMD kernels (involution, AdamW) on or off (on
 * unless `VITKD_WASM_SIMD=0`); off, their callers run the JavaScript loops.
 * For tests and measurements.
 */
export function setWasmSimd(on: boolean): void {
  enabled = on;
}

/** Whether the SIMD kernels are on. */
export function wasmSimdEnabled(): boolean {
  return enabled;
}

/**
 * `build(memory)` once per memory while the kernels are on; undefined when
 * they are off or building failed (no WebAssembly SIMD here, or the memory
 * cannot be imported), which is not retried.
 */
export function perMemory<T>(
  build: (memory: WebAssembly.Memory) => T,
): (memory: WebAssembly.Memory | undefined) => T | undefined {
  const built = new WeakMap<WebAssembly.Memory, T | null>();
  return (memory) => {
    if (!enabled || memory === undefined) return undefined;
    let made = built.get(memory);
    if (made === undefined) {
      try {
        made = build(memory);
      } catch {
        made = null;
      }
      built.set(memory, made);
    }
    return made ?? undefined;
  };
}
