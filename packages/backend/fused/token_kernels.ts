import type * as tf from "@tensorflow/tfjs";
import { LoopId } from "../native/loops.ts";
import {
  floatOffset,
  type FusedBackend,
  heapOf,
  requireFloat,
  wasmConfig,
} from "./heap_kernel.ts";
import { runHeapLoop } from "./parallel_loops.ts";
import { activeDnnlRows } from "../native/_dnnl_rows.ts";
import { heapBuffer } from "../native/heap.ts";

/** Kernel name: `[N, L, P*D]` tokens -> P head-major `[N*H, L, D/H]` tensors. */
export const TOKENS_TO_HEADS = "VitkdTokensToHeads";
/** Kernel name: P head-major `[N*H, L, D/H]` tensors -> `[N, L, P*D]` tokens. */
export const HEADS_TO_TOKENS = "VitkdHeadsToTokens";
/** Kernel name: tokens `[begin, begin + size)` of `[N, L, D]`. */
export const SLICE_TOKENS = "VitkdSliceTokens";
/** Kernel name: `[N, size, D]` placed at `begin` in zeros `[N, length, D]`. */
export const PAD_TOKENS = "VitkdPadTokens";

/** `value` as a whole number >= 1, or an error naming the kernel and attribute. */
export function positiveInteger(
  kernel: string,
  name: string,
  value: unknown,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new Error(
      `${kernel}: attribute ${name} must be an integer >= 1, got ${value}`,
    );
  }
  return value;
}

/** The shape of a float32 rank-3 tensor, or an error naming the kernel and input. */
export function rank3(
  kernel: string,
  name: string,
  t: tf.TensorInfo,
): [number, number, number] {
  requireFloat(kernel, name, t);
  if (t.shape.length !== 3) {
    throw new Error(
      `${kernel}: ${name} must have rank 3, got shape [${t.shape}]`,
    );
  }
  return t.shape as [number, number, number];
}

// Copies between the token layout [N, L, P*D] and the head layout
// P x [N*H, L, hd] (part 0 scaled), by (part, image) pairs: on both threads
// when the helper is active (loops.ts has the loop).
function moveHeads(
  backend: FusedBackend,
  tokensAt: number,
  partsAt: number[],
  n: number,
  length: number,
  heads: number,
  headDim: number,
  scale: number,
  toHeads: boolean,
): void {
  // oneDNN's reorders when its kernels are on: vectorised copies, about ten
  // times the speed of this scalar loop
  const dnnl = activeDnnlRows();
  if (
    dnnl && n > 0 &&
    dnnl.moveHeads(
        { n, length, heads, headDim, parts: partsAt.length, toHeads, scale },
        heapBuffer(backend),
        [tokensAt, ...partsAt].map((at) => 4 * at),
      ) === undefined
  ) {
    return;
  }
  const args = [
    tokensAt,
    n,
    length,
    heads,
    headDim,
    scale,
    toHeads ? 1 : 0,
    ...partsAt,
  ];
  runHeapLoop(
    backend,
    LoopId.MoveHeads,
    args,
    partsAt.length * n,
    length * heads * headDim,
  );
}

/**
 * Splits fused projections `[N, L, P*D]` (e.g. P = 3 for q, k, v) into P
 * head-major tensors `[N*H, L, D/H]`, part 0 times `scale`: one pass instead
 * of slice + reshape + rank-4 transpose per part.
 */
export const tokensToHeadsConfig: tf.KernelConfig = wasmConfig(
  TOKENS_TO_HEADS,
  (inputs, attrs, backend) => {
    const [n, length, width] = rank3(TOKENS_TO_HEADS, "x", inputs.x);
    const heads = positiveInteger(TOKENS_TO_HEADS, "heads", attrs.heads);
    const parts = positiveInteger(TOKENS_TO_HEADS, "parts", attrs.parts);
    const scale = (attrs.scale as number | undefined) ?? 1;
    if (width % (parts * heads) !== 0) {
      throw new Error(
        `${TOKENS_TO_HEADS}: width ${width} of x [${inputs.x.shape}] does not divide into ${parts} parts of ${heads} heads`,
      );
    }
    const headDim = width / (parts * heads);
    const outs: tf.TensorInfo[] = [];
    for (let p = 0; p < parts; p++) {
      outs.push(backend.makeOutput([n * heads, length, headDim], "float32"));
    }
    moveHeads(
      backend,
      floatOffset(backend, inputs.x),
      outs.map((o) => floatOffset(backend, o)),
      n,
      length,
      heads,
      headDim,
      scale,
      true,
    );
    return outs;
  },
);

/**
 * The inputs `part0`..`part{P-1}` of {@linkcode HEADS_TO_TOKENS}, checked:
 * float32 `[N*heads, L, D/heads]` each, all of one shape.
 */
export function headParts(
  inputs: Record<string, tf.TensorInfo>,
  heads: number,
): { parts: tf.TensorInfo[]; n: number; length: number; headDim: number } {
  const parts: tf.TensorInfo[] = [];
  while (inputs[`part${parts.length}`]) {
    parts.push(inputs[`part${parts.length}`]);
  }
  if (parts.length === 0) {
    throw new Error(`${HEADS_TO_TOKENS}: needs inputs part0, part1, ...`);
  }
  const [rowsH, length, headDim] = rank3(HEADS_TO_TOKENS, "part0", parts[0]);
  parts.forEach((t, i) => {
    const shape = rank3(HEADS_TO_TOKENS, `part${i}`, t);
    if (shape.some((d, j) => d !== parts[0].shape[j])) {
      throw new Error(
        `${HEADS_TO_TOKENS}: part${i} of shape [${shape}] differs from part0 [${
          parts[0].shape
        }]`,
      );
    }
  });
  if (rowsH % heads !== 0) {
    throw new Error(
      `${HEADS_TO_TOKENS}: ${rowsH} rows do not divide into ${heads} heads`,
    );
  }
  return { parts, n: rowsH / heads, length, headDim };
}

/** The inverse of {@linkcode tokensToHeadsConfig}: inputs `part0`..`part{P-1}`. */
export const headsToTokensConfig: tf.KernelConfig = wasmConfig(
  HEADS_TO_TOKENS,
  (inputs, attrs, backend) => {
    const heads = positiveInteger(HEADS_TO_TOKENS, "heads", attrs.heads);
    const scale = (attrs.scale as number | undefined) ?? 1;
    const { parts, n, length, headDim } = headParts(inputs, heads);
    const out = backend.makeOutput(
      [n, length, parts.length * heads * headDim],
      "float32",
    );
    moveHeads(
      backend,
      floatOffset(backend, out),
      parts.map((t) => floatOffset(backend, t)),
      n,
      length,
      heads,
      headDim,
      scale,
      false,
    );
    return out;
  },
);

/** Checks that tokens `[begin, begin + size)` lie in `0..length`; returns them. */
export function tokenRange(
  kernel: string,
  begin: unknown,
  size: unknown,
  length: number,
): [number, number] {
  if (
    typeof begin !== "number" || typeof size !== "number" ||
    !Number.isInteger(begin) ||
    !Number.isInteger(size) || begin < 0 || size < 0 || begin + size > length
  ) {
    throw new Error(
      `${kernel}: tokens [${begin}, ${
        Number(begin) + Number(size)
      }) are out of range for ${length} tokens`,
    );
  }
  return [begin, size];
}

/** Tokens `[begin, begin + size)` of `x [N, L, D]`, one row copy per sample. */
export const sliceTokensConfig: tf.KernelConfig = wasmConfig(
  SLICE_TOKENS,
  (inputs, attrs, backend) => {
    const [n, length, dim] = rank3(SLICE_TOKENS, "x", inputs.x);
    const [begin, size] = tokenRange(
      SLICE_TOKENS,
      attrs.begin,
      attrs.size,
      length,
    );
    const out = backend.makeOutput([n, size, dim], "float32");
    const heap = heapOf(backend);
    const xAt = floatOffset(backend, inputs.x);
    const outAt = floatOffset(backend, out);
    const block = size * dim;
    for (let b = 0; b < n; b++) {
      const from = xAt + (b * length + begin) * dim;
      heap.copyWithin(outAt + b * block, from, from + block);
    }
    return out;
  },
);

/** `dy [N, size, D]` placed at token `begin` of zeros `[N, length, D]`. */
export const padTokensConfig: tf.KernelConfig = wasmConfig(
  PAD_TOKENS,
  (inputs, attrs, backend) => {
    const [n, size, dim] = rank3(PAD_TOKENS, "x", inputs.x);
    const length = positiveInteger(PAD_TOKENS, "length", attrs.length);
    const [begin] = tokenRange(PAD_TOKENS, attrs.begin, size, length);
    const out = backend.makeOutput([n, length, dim], "float32");
    const heap = heapOf(backend);
    const xAt = floatOffset(backend, inputs.x);
    const outAt = floatOffset(backend, out);
    heap.fill(0, outAt, outAt + n * length * dim);
    const block = size * dim;
    for (let b = 0; b < n; b++) {
      const to = outAt + (b * length + begin) * dim;
      heap.copyWithin(to, xAt + b * block, xAt + (b + 1) * block);
    }
    return out;
  },
);
