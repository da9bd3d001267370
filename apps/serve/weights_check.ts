import type * as tf from "@tensorflow/tfjs";
import { ModelError, weightFingerprint } from "@vitkd/models";

/**
 * Checks the loaded weights against `meta.json`'s `weightFingerprint`, so a
 * `weights.bin` altered after saving (same size, other bytes) is refused
 * instead of served. Returns the fingerprint.
 *
 * @throws {ModelError} (code `corrupt`) naming `weights.bin` of `dir`, the
 * expected and the computed fingerprint
 */
export async function verifyWeights(
  dir: string,
  model: tf.LayersModel,
  expected: string,
): Promise<string> {
  // reads the weights asynchronously, as WebGPU requires
  const actual = await weightFingerprint(model);
  if (actual !== expected) {
    const path = `${dir.replace(/\/+$/, "")}/weights.bin`;
    throw new ModelError(
      `${path} does not match meta.json: weight fingerprint ${actual}, meta.json says ${expected}; the file was altered or belongs to another model (save or train it again)`,
      { code: "corrupt", path },
    );
  }
  return actual;
}
