import type * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { onBackend } from "../wasm_kernels/_test_util.ts";
import {
  activeHelper,
  disableNativeKernels,
  enableNativeKernels,
  loadNativeBlas,
} from "./register.ts";

/** Whether this machine has a helper thread to test with. */
export const hasHelperThread: boolean = Boolean(loadNativeBlas().blas?.helper);

/**
 * Runs `compute` on wasm on the calling thread alone, then with the native
 * path's helper thread sharing the heap loops, and asserts that every output
 * is the same to the bit: a loop split between two threads must write what
 * one thread writes.
 */
export async function assertHelperSplitExact(
  compute: () => tf.Tensor[],
): Promise<void> {
  disableNativeKernels();
  const alone = await onBackend("wasm", compute);
  enableNativeKernels(loadNativeBlas().blas!);
  let shared;
  try {
    assert(activeHelper(), "no active helper thread");
    shared = await onBackend("wasm", compute);
  } finally {
    disableNativeKernels();
  }
  for (let i = 0; i < alone.length; i++) {
    assertEquals(shared[i].values, alone[i].values, `output ${i}`);
  }
}
