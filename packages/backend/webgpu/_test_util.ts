// Shared by the WebGPU kernel tests.
import { assert } from "@std/assert";

/**
 * Asserts that `actual` equals `expected` within `tolerance` times the
 * largest magnitude in `expected` (at least 1e-3): GPU reductions sum in
 * another order than cpu, so errors scale with the values summed, not with
 * each element.
 */
export function assertCloseToScale(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  label: string,
): void {
  assert(
    actual.length === expected.length,
    `${label}: ${actual.length} values, expected ${expected.length}`,
  );
  let scale = 1e-3;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  for (let i = 0; i < expected.length; i++) {
    assert(
      Math.abs(actual[i] - expected[i]) <= tolerance * scale,
      `${label}[${i}]: webgpu ${actual[i]}, cpu ${expected[i]}`,
    );
  }
}
