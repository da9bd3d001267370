import type * as tf from "@tensorflow/tfjs";

/**
 * The fingerprint `weightFingerprint` of `@vitkd/models` gives (names,
 * shapes and values; `w1-` and 16 hex digits), computed from weights read
 * asynchronously with `tensor.data()`: no synchronous download, which
 * WebGPU does not allow.
 */
export async function readWeightFingerprint(
  model: tf.LayersModel,
): Promise<string> {
  // The same two 32-bit multiply-xor hashes as weightFingerprint.
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x01000193 | 0;
  const mixWord = (word: number) => {
    h1 = Math.imul(h1 ^ word, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h2 = Math.imul(h2 ^ word, 0xc2b2ae35) + 0x27d4eb2f | 0;
    h2 ^= h2 >>> 16;
  };
  const encoder = new TextEncoder();
  for (const weight of model.weights) {
    const header = encoder.encode(`${weight.shape.join("x")};`);
    for (const byte of header) mixWord(byte);
    const values = await weight.read().data();
    const words = new Uint32Array(
      values.buffer,
      values.byteOffset,
      values.length,
    );
    for (let i = 0; i < words.length; i++) mixWord(words[i]);
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return `w1-${hex(h1)}${hex(h2)}`;
}

/**
 * Checks the loaded weights against `meta.json`'s `weightFingerprint`, so a
 * `weights.bin` altered after saving (same size, other bytes) is refused
 * instead of served. Returns the fingerprint.
 *
 * @throws {Error} naming `weights.bin` of `dir`, the expected and the computed fingerprint
 */
export async function verifyWeights(
  dir: string,
  model: tf.LayersModel,
  expected: string,
): Promise<string> {
  const actual = await readWeightFingerprint(model);
  if (actual !== expected) {
    throw new Error(
      `${
        dir.replace(/\/+$/, "")
      }/weights.bin does not match meta.json: weight fingerprint ${actual}, meta.json says ${expected}; the file was altered or belongs to another model (save or train it again)`,
    );
  }
  return actual;
}
