/**
 * Elementwise and per-row loops over a float view of the wasm heap that
 * either thread can run on part of a range: the fused ViT kernels run them
 * on the main thread and, through {@linkcode BlasHelper.shareLoop}, on the
 * helper thread, which sees the same heap through its raw address. Pure
 * functions of the heap and their numeric arguments (float offsets, sizes),
 * with no imports but other such loops (involution_loops.ts), so that the
 * helper loads no tfjs.
 *
 * @module
 */
import {
  involutionForwardLoop,
  involutionGatherLoop,
  involutionKernelGradLoop,
  involutionScatterLoop,
} from "./involution_loops.ts";

/**
 * A loop over `[start, end)` of its range (elements or rows). Offsets,
 * sizes and bounds are integers below 2^31; the loops read them `| 0`, so
 * that V8 compiles int32 indices also where they arrive as doubles (the
 * helper reads them from a Float64Array).
 */
export type HeapLoop = (
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
) => void;

/** Numeric arguments a loop may take. */
export const LOOP_ARGS = 12;

// Abramowitz–Stegun 7.1.26, the constants of tfjs' backend_util (ERF_P,
// ERF_A1..ERF_A5), so the fused GELU equals `tf.layers` GELU to float32
// rounding; the loops module imports nothing, so they are copied here
// (a test checks them against tfjs').
/** A&S 7.1.26 erf constants: p, a1..a5. */
export const AS_ERF = [
  0.3275911,
  0.254829592,
  -0.284496736,
  1.421413741,
  -1.453152027,
  1.061405429,
] as const;
const [P, A1, A2, A3, A4, A5] = AS_ERF;
const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

// erf(z) = z·p(z²)/q(z²) on [-4, 4] (±1 to float32 beyond), a minimax
// rational fit: |error| < 7e-8 against the exact erf on a 1e-4 grid, below
// A&S 7.1.26's 1.5e-7, with no exp. Inference needs no slope, so no exp at all.
const [p1, p3, p5, p7, p9, p11, p13] = [
  -1.60960333262415e-02,
  -2.95459980854025e-03,
  -7.34990630326855e-04,
  -5.69250639462346e-05,
  -2.10102402082508e-06,
  2.77068142495902e-08,
  -2.72614225801306e-10,
];
const [q0, q2, q4, q6, q8] = [
  -1.42647390514189e-02,
  -7.37332916720468e-03,
  -1.68282697438203e-03,
  -2.13374055278905e-04,
  -1.45660718464996e-05,
];

/** GELU without slope; args: x, y (float offsets); range: elements. */
export function geluInferenceLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const yAt = args[1] | 0;
  for (let i = start | 0; i < (end | 0); i++) {
    const v = heap[xAt + i];
    const z = Math.min(4, Math.max(-4, v * SQRT_HALF));
    const z2 = z * z;
    const p = z *
      ((((((p13 * z2 + p11) * z2 + p9) * z2 + p7) * z2 + p5) * z2 + p3) * z2 +
        p1);
    const q = (((q8 * z2 + q6) * z2 + q4) * z2 + q2) * z2 + q0;
    heap[yAt + i] = 0.5 * v * (1 + p / q);
  }
}

/** `e = -x² / 2`, GELU's exponent; args: x, e; range: elements. */
export function geluExponentLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const eAt = args[1] | 0;
  for (let i = start | 0; i < (end | 0); i++) {
    const v = heap[xAt + i];
    heap[eAt + i] = -0.5 * v * v;
  }
}

/**
 * GELU and its slope `Φ(x) + x φ(x)` from `e = exp(-x²/2)`, the slope
 * written over `e`; args: x, slope (holding e), y; range: elements.
 */
export function geluTrainingLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const sAt = args[1] | 0;
  const yAt = args[2] | 0;
  // The sign bit read as an integer: a branch on the sign of GELU's
  // inputs mispredicts about half the time and was most of this loop.
  const bits = new Int32Array(heap.buffer, heap.byteOffset, heap.length);
  for (let i = start | 0; i < (end | 0); i++) {
    const v = heap[xAt + i];
    const e = heap[sAt + i];
    const t = 1 / (1 + P * Math.abs(v) * SQRT_HALF);
    const erfAbs = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * e;
    const cdf = 0.5 + erfAbs * (0.5 - (bits[xAt + i] >>> 31));
    heap[yAt + i] = v * cdf;
    heap[sAt + i] = cdf + v * e * INV_SQRT_2PI;
  }
}

/**
 * Layer norm forward per row; args: x, gamma, beta, y, mean, inverse (float
 * offsets), width, epsilon; range: rows.
 */
export function layerNormLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const gAt = args[1] | 0;
  const bAt = args[2] | 0;
  const yAt = args[3] | 0;
  const mAt = args[4] | 0;
  const iAt = args[5] | 0;
  const width = args[6] | 0;
  const epsilon = args[7];
  for (let r = start | 0; r < (end | 0); r++) {
    const base = xAt + r * width;
    // One pass of sum and sum of squares: in float64 the cancellation in
    // E[x²] - E[x]² stays far below float32 rounding unless |mean| / std
    // exceeds ~1e4, which normalised activations never approach.
    let sum = 0;
    let sumSquares = 0;
    for (let j = 0; j < width; j++) {
      const v = heap[base + j];
      sum += v;
      sumSquares += v * v;
    }
    const mu = sum / width;
    const squares = Math.max(0, sumSquares - sum * mu);
    const inv = 1 / Math.sqrt(squares / width + epsilon);
    const out = yAt + r * width;
    for (let j = 0; j < width; j++) {
      heap[out + j] = (heap[base + j] - mu) * inv * heap[gAt + j] +
        heap[bAt + j];
    }
    heap[mAt + r] = mu;
    heap[iAt + r] = inv;
  }
}

/**
 * Between the token layout `[N, L, P*D]` and P head layouts `[N*H, L, D/H]`;
 * part 0 is scaled. Args: tokens, n, length, heads, headDim, scale, toHeads
 * (1: tokens to heads, 0: back), then the P parts' offsets; range: (part,
 * image) pairs, `p * n + b`.
 */
export function moveHeadsLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const tokensAt = args[0] | 0;
  const n = args[1] | 0;
  const length = args[2] | 0;
  const heads = args[3] | 0;
  const headDim = args[4] | 0;
  const scale = +args[5];
  const toHeads = args[6] !== 0;
  const parts = args.length - 7;
  const dim = heads * headDim;
  const rowWidth = parts * dim;
  for (let i = start | 0; i < (end | 0); i++) {
    const p = (i / n) | 0;
    const b = i - p * n;
    const s = p === 0 ? scale : 1;
    const partAt = args[7 + p] | 0;
    for (let h = 0; h < heads; h++) {
      const headBase = partAt + (b * heads + h) * length * headDim;
      for (let l = 0; l < length; l++) {
        const tok = tokensAt + (b * length + l) * rowWidth + p * dim +
          h * headDim;
        const head = headBase + l * headDim;
        if (toHeads) {
          for (let e = 0; e < headDim; e++) heap[head + e] = heap[tok + e] * s;
        } else {
          for (let e = 0; e < headDim; e++) heap[tok + e] = heap[head + e] * s;
        }
      }
    }
  }
}

/**
 * Per-channel affine `y = (x - center) * factor + shift` over pixels of
 * `channels` values (inference batch norm). Args: x, y, params (float
 * offsets; params holds center, factor and shift, `channels` each),
 * channels; range: pixels.
 */
export function channelAffineLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const yAt = args[1] | 0;
  const pAt = args[2] | 0;
  const channels = args[3] | 0;
  // Channel-outer over blocks of pixels: each channel's three constants
  // stay in registers while its values are strided through the block.
  const block = Math.max(1, (16384 / channels) | 0);
  for (let first = start | 0; first < (end | 0); first += block) {
    const last = Math.min(end | 0, first + block);
    for (let c = 0; c < channels; c++) {
      const m = heap[pAt + c];
      const f = heap[pAt + channels + c];
      const b = heap[pAt + 2 * channels + c];
      for (let p = first * channels + c; p < last * channels; p += channels) {
        heap[yAt + p] = (heap[xAt + p] - m) * f + b;
      }
    }
  }
}

/**
 * The softmax gradient `dx = y * (dy - sum(dy * y))` per row. Args: dy, y,
 * dx (float offsets), width; range: rows.
 */
export function softmaxGradLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0;
  const yAt = args[1] | 0;
  const dxAt = args[2] | 0;
  const width = args[3] | 0;
  for (let r = start | 0; r < (end | 0); r++) {
    const base = r * width;
    let dot = 0;
    for (let j = 0; j < width; j++) {
      dot += heap[dyAt + base + j] * heap[yAt + base + j];
    }
    for (let j = 0; j < width; j++) {
      heap[dxAt + base + j] = heap[yAt + base + j] *
        (heap[dyAt + base + j] - dot);
    }
  }
}

/**
 * {@linkcode channelAffineLoop} followed by a ReLU, `max(y, 0)` (training
 * batch norm + ReLU). Args and range as there. A copy rather than a flag:
 * a relu branch inside the loop made V8 compile it about 3x slower.
 */
export function channelAffineReluLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const yAt = args[1] | 0;
  const pAt = args[2] | 0;
  const channels = args[3] | 0;
  const block = Math.max(1, (16384 / channels) | 0);
  for (let first = start | 0; first < (end | 0); first += block) {
    const last = Math.min(end | 0, first + block);
    for (let c = 0; c < channels; c++) {
      const m = heap[pAt + c];
      const f = heap[pAt + channels + c];
      const b = heap[pAt + 2 * channels + c];
      for (let p = first * channels + c; p < last * channels; p += channels) {
        // max(v, 0) without a branch: V8 compiles Math.max and ?: to
        // branches, which mispredict half the time on activations. Exact:
        // v + |v| and the halving are exact in float64.
        const v = (heap[xAt + p] - m) * f + b;
        heap[yAt + p] = (v + Math.abs(v)) * 0.5;
      }
    }
  }
}

/**
 * The ReLU's backward, `out = y > 0 ? dy : 0`, from the ReLU's output y.
 * Args: dy, y, out (float offsets); range: elements.
 */
export function reluMaskLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0;
  const yAt = args[1] | 0;
  const outAt = args[2] | 0;
  for (let p = start | 0; p < (end | 0); p++) {
    // (y > 0) as 1 or 0 without a branch: y >= 0, so y / (y + 1) is in [0, 1).
    const y = heap[yAt + p];
    heap[outAt + p] = heap[dyAt + p] * Math.ceil(y / (y + 1));
  }
}

/**
 * `dx = a·dy + b·x + k` per channel (training batch norm's input gradient).
 * Args: dy, dx, x, params (float offsets; params holds a, b and k,
 * `channels` each), channels; range: pixels.
 */
export function channelGradientLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0;
  const dxAt = args[1] | 0;
  const xAt = args[2] | 0;
  const pAt = args[3] | 0;
  const channels = args[4] | 0;
  const block = Math.max(1, (16384 / channels) | 0);
  for (let first = start | 0; first < (end | 0); first += block) {
    const last = Math.min(end | 0, first + block);
    for (let c = 0; c < channels; c++) {
      const a = heap[pAt + c];
      const b = heap[pAt + channels + c];
      const k = heap[pAt + 2 * channels + c];
      for (let p = first * channels + c; p < last * channels; p += channels) {
        heap[dxAt + p] = a * heap[dyAt + p] + b * heap[xAt + p] + k;
      }
    }
  }
}

/**
 * Column sums of `[rows, width]` (a sum over the leading axes) in float64,
 * written as float32. Args: x, out (float offsets), rows, width; range:
 * columns. Each column is summed over the rows in order whichever thread
 * takes it, so a split gives the one-thread result to the bit.
 */
export function columnSumLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const outAt = args[1] | 0;
  const rows = args[2] | 0;
  const width = args[3] | 0;
  const first = start | 0;
  const sums = new Float64Array((end | 0) - first);
  for (let r = 0; r < rows; r++) {
    const base = xAt + r * width + first;
    for (let j = 0; j < sums.length; j++) sums[j] += heap[base + j];
  }
  for (let j = 0; j < sums.length; j++) heap[outAt + first + j] = sums[j];
}

/**
 * Means over the middle axes of images `[n, rows, width]` (a global average
 * pool of NHWC: rows = h·w) for images `[start, end)`: args xAt, outAt, rows,
 * width; each column summed in float64 in row order, then divided by rows.
 */
export function spatialMeanLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0;
  const outAt = args[1] | 0;
  const rows = args[2] | 0;
  const width = args[3] | 0;
  const sums = new Float64Array(width);
  for (let n = start | 0; n < (end | 0); n++) {
    sums.fill(0);
    const image = xAt + n * rows * width;
    for (let r = 0; r < rows; r++) {
      const base = image + r * width;
      for (let j = 0; j < width; j++) sums[j] += heap[base + j];
    }
    const out = outAt + n * width;
    for (let j = 0; j < width; j++) heap[out + j] = sums[j] / rows;
  }
}

/**
 * Layer norm's gradient for blocks `[start, end)` of `blockRows` rows: args
 * dyAt, xAt, gAt, mAt, iAt, dxAt, partAt, rows, width, blockRows. Writes
 * each row's dx, and each block's float64 column sums of dy·xhat and dy
 * (dgamma's and dbeta's parts) at float index `partAt` (8-byte aligned),
 * `2·width` doubles a block; the caller adds the blocks up in order, so the
 * result does not depend on how the blocks were split.
 */
export function layerNormGradLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0, xAt = args[1] | 0, gAt = args[2] | 0;
  const mAt = args[3] | 0, iAt = args[4] | 0, dxAt = args[5] | 0;
  const partAt = args[6] | 0, rows = args[7] | 0, width = args[8] | 0;
  const blockRows = args[9] | 0;
  for (let block = start | 0; block < (end | 0); block++) {
    const part = new Float64Array(
      heap.buffer,
      heap.byteOffset + 4 * partAt + 16 * width * block,
      2 * width,
    );
    part.fill(0);
    const last = Math.min(rows, (block + 1) * blockRows);
    for (let r = block * blockRows; r < last; r++) {
      const base = r * width;
      const mu = heap[mAt + r];
      const inv = heap[iAt + r];
      let sumG = 0;
      let sumGX = 0;
      for (let j = 0; j < width; j++) {
        const d = heap[dyAt + base + j];
        const xhat = (heap[xAt + base + j] - mu) * inv;
        const g = d * heap[gAt + j];
        sumG += g;
        sumGX += g * xhat;
        part[j] += d * xhat;
        part[width + j] += d;
      }
      const meanG = sumG / width;
      const meanGX = sumGX / width;
      for (let j = 0; j < width; j++) {
        const xhat = (heap[xAt + base + j] - mu) * inv;
        heap[dxAt + base + j] =
          (heap[dyAt + base + j] * heap[gAt + j] - meanG - xhat * meanGX) *
          inv;
      }
    }
  }
}

/** The loops by id, the id a post to the helper names. */
export const HEAP_LOOPS: readonly HeapLoop[] = [
  geluInferenceLoop,
  geluExponentLoop,
  geluTrainingLoop,
  layerNormLoop,
  moveHeadsLoop,
  channelAffineLoop,
  softmaxGradLoop,
  channelAffineReluLoop,
  reluMaskLoop,
  channelGradientLoop,
  columnSumLoop,
  spatialMeanLoop,
  involutionForwardLoop,
  involutionKernelGradLoop,
  involutionGatherLoop,
  involutionScatterLoop,
  layerNormGradLoop,
];

/** Ids of {@linkcode HEAP_LOOPS}. */
export const LoopId = {
  GeluInference: 0,
  GeluExponent: 1,
  GeluTraining: 2,
  LayerNorm: 3,
  MoveHeads: 4,
  ChannelAffine: 5,
  SoftmaxGrad: 6,
  ChannelAffineRelu: 7,
  ReluMask: 8,
  ChannelGradient: 9,
  ColumnSum: 10,
  SpatialMean: 11,
  InvolutionForward: 12,
  InvolutionKernelGrad: 13,
  InvolutionGather: 14,
  InvolutionScatter: 15,
  LayerNormGrad: 16,
} as const;
