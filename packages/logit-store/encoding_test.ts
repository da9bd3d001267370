import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import {
  decodeRecord,
  encodeRecord,
  recordBytes,
  type StoreEncoding,
  topKIndices,
  validateEncoding,
} from "./encoding.ts";
import { FLOAT16_TABLE, float32ToFloat16Bits } from "./_float16.ts";
import { LogitStoreError } from "./errors.ts";

function randomLogits(n: number, seed: number, scale = 4): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

function roundTrip(
  logits: Float32Array,
  c: number,
  enc: StoreEncoding,
): Float32Array {
  const bytes = new Uint8Array(recordBytes(enc, c) + 3);
  encodeRecord(logits, 0, c, enc, bytes, 3); // odd offset: no alignment assumed
  const out = new Float32Array(c);
  decodeRecord(bytes, 3, c, enc, out, 0);
  return out;
}

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

Deno.test("dense float32 records round trip exactly", () => {
  const logits = randomLogits(100, 1, 30);
  assertEquals(
    roundTrip(logits, 100, { kind: "dense", dtype: "float32" }),
    logits,
  );
});

Deno.test("dense float16 records hold the nearest half of each logit", () => {
  const logits = randomLogits(1000, 2, 20);
  const out = roundTrip(logits, 1000, { kind: "dense", dtype: "float16" });
  for (let i = 0; i < logits.length; i++) {
    assertEquals(out[i], FLOAT16_TABLE[float32ToFloat16Bits(logits[i])]);
    assert(
      Math.abs(out[i] - logits[i]) <= Math.abs(logits[i]) * 2 ** -11 + 1e-7,
    );
  }
});

Deno.test("top-k recovery keeps the top k and spreads the rest evenly", () => {
  for (const [c, k] of [[10, 3], [100, 5], [1000, 10], [10, 9]]) {
    const logits = randomLogits(c, c + k, 5);
    const out = roundTrip(logits, c, { kind: "topk", dtype: "float32", k });
    const top = Array.from(topKIndices(logits, 0, c, k));
    const byValue = Array.from(logits.keys()).sort((a, b) =>
      logits[b] - logits[a] || a - b
    ).slice(0, k);
    assertEquals(top, byValue);
    const p = softmax(logits);
    const q = softmax(out);
    const topSet = new Set(top);
    const restMass = 1 - top.reduce((s, i) => s + p[i], 0);
    for (let i = 0; i < c; i++) {
      if (topSet.has(i)) {
        assertEquals(out[i], logits[i]);
        assertAlmostEquals(q[i], p[i], 1e-6);
      } else assertAlmostEquals(q[i], restMass / (c - k), 1e-6);
    }
    // argmax survives
    assertEquals(q.indexOf(Math.max(...q)), top[0]);
  }
});

Deno.test("top-k with k = C - 1 recovers the missing logit exactly enough", () => {
  const logits = randomLogits(10, 9, 3);
  const out = roundTrip(logits, 10, { kind: "topk", dtype: "float32", k: 9 });
  for (let i = 0; i < 10; i++) assertAlmostEquals(out[i], logits[i], 1e-5);
});

Deno.test("top-k breaks ties by the smaller class index", () => {
  const logits = new Float32Array([1, 3, 3, 0, 3, 2]);
  assertEquals(Array.from(topKIndices(logits, 0, 6, 3)), [1, 2, 4]);
  assertEquals(Array.from(topKIndices(logits, 0, 6, 4)), [1, 2, 4, 5]);
});

Deno.test("top-k stores indices as uint32 beyond 65,536 classes", () => {
  const c = 70000;
  const logits = randomLogits(c, 5, 1);
  logits[69999] = 50;
  logits[65536] = 40;
  const enc: StoreEncoding = { kind: "topk", dtype: "float16", k: 2 };
  assertEquals(recordBytes(enc, c), 3 * 2 + 2 * 4);
  const out = roundTrip(logits, c, enc);
  assertEquals(out[69999], 50);
  assertEquals(out[65536], 40);
  // The fill is log of the mean exp over the 69,998 other classes.
  let rest = 0;
  for (let i = 0; i < c; i++) {
    if (i !== 69999 && i !== 65536) rest += Math.exp(logits[i]);
  }
  assertAlmostEquals(out[0], Math.log(rest / (c - 2)), 2e-3);
});

Deno.test("invalid encodings are refused with the reason", () => {
  const err = assertThrows(
    () => validateEncoding({ kind: "topk", dtype: "float16", k: 10 }, 10),
    LogitStoreError,
  );
  assert(err.message.includes("1 <= k < 10"));
  assertThrows(
    () => validateEncoding({ kind: "dense", dtype: "int8" as "float16" }, 10),
    LogitStoreError,
    "dtype",
  );
  assertEquals(recordBytes({ kind: "dense", dtype: "float16" }, 1000), 2000);
  assertEquals(recordBytes({ kind: "topk", dtype: "float16", k: 5 }, 1000), 22);
});
