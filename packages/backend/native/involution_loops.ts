/**
 * The involution's aggregation and its gradients as heap loops over a range
 * of images, so that the helper thread can take half of a batch: each
 * image reads and writes only its own pixels, so the result does not
 * depend on the split. Pure functions of the heap and their numeric
 * arguments (float offsets; h, w, c, groups, kernelSize, strides), with no
 * imports, as loops.ts asks of every heap loop.
 *
 * @module
 */

/** The geometry the loops read from their arguments 3 to 8. */
interface Geometry {
  h: number;
  w: number;
  c: number;
  groups: number;
  k: number;
  s: number;
  gc: number;
  outH: number;
  outW: number;
}

function geometryOf(args: ArrayLike<number>): Geometry {
  const h = args[3] | 0, w = args[4] | 0, c = args[5] | 0;
  const groups = args[6] | 0, k = args[7] | 0, s = args[8] | 0;
  return {
    h,
    w,
    c,
    groups,
    k,
    s,
    gc: (c / groups) | 0,
    outH: Math.ceil(h / s),
    outW: Math.ceil(w / s),
  };
}

/**
 * Collects the taps of output pixel (i, j) that land inside the image: their
 * tap index `u·K+v` and the float offset of the input pixel in image `img`.
 * Returns how many there are.
 */
function validTaps(
  geo: Geometry,
  xAt: number,
  img: number,
  i: number,
  j: number,
  tapIndex: Int32Array,
  tapOffset: Int32Array,
): number {
  const { h, w, c, k, s } = geo;
  const p = (k - 1) >> 1;
  let count = 0;
  for (let u = 0; u < k; u++) {
    const row = s * i + u - p;
    if (row < 0 || row >= h) continue;
    for (let v = 0; v < k; v++) {
      const col = s * j + v - p;
      if (col < 0 || col >= w) continue;
      tapIndex[count] = u * k + v;
      tapOffset[count] = xAt + ((img * h + row) * w + col) * c;
      count++;
    }
  }
  return count;
}

/**
 * Forward for images `[start, end)`: args xAt, kAt, yAt, then the geometry.
 * `y[n,i,j,c] = sum_{u,v} H[n,i,j,(u·K+v)·G+g(c)] · x[n, s·i+u-p, s·j+v-p, c]`,
 * zero outside x, p = (K-1)/2, summed in the order u, v.
 */
export function involutionForwardLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const xAt = args[0] | 0, kAt = args[1] | 0, yAt = args[2] | 0;
  const geo = geometryOf(args);
  const { c, outH, outW, groups, k, gc } = geo;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  const kOffset = new Int32Array(k * k);
  const weights = new Float32Array(k * k);
  for (let img = start | 0; img < (end | 0); img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const kBase = kAt + pixel * kk;
        const taps = validTaps(geo, xAt, img, i, j, tapIndex, tapOffset);
        for (let t = 0; t < taps; t++) {
          kOffset[t] = kBase + tapIndex[t] * groups;
        }
        weightedTapSums(
          heap,
          yAt + pixel * c,
          groups,
          gc,
          k,
          taps,
          tapOffset,
          kOffset,
          weights,
        );
      }
    }
  }
}

/**
 * The kernels' gradient for images `[start, end)`: args dyAt, xAt, dkAt,
 * then the geometry. `dKernels[pixel, tap, g]` is the group's dot product of
 * dy and the tap's x (0 for taps outside the image).
 */
export function involutionKernelGradLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0, xAt = args[1] | 0, dkAt = args[2] | 0;
  const geo = geometryOf(args);
  const { c, outH, outW, groups, k, gc } = geo;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  const perImage = outH * outW * kk;
  heap.fill(0, dkAt + (start | 0) * perImage, dkAt + (end | 0) * perImage);
  for (let img = start | 0; img < (end | 0); img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const dyBase = dyAt + pixel * c;
        const dkBase = dkAt + pixel * kk;
        const taps = validTaps(geo, xAt, img, i, j, tapIndex, tapOffset);
        if (k === 3 && taps === 9) {
          kernelGradNineTaps(heap, dyBase, dkBase, groups, gc, tapOffset);
          continue;
        }
        for (let t = 0; t < taps; t++) {
          const xBase = tapOffset[t];
          const dkTap = dkBase + tapIndex[t] * groups;
          for (let g = 0, ch = 0; g < groups; g++) {
            let dot = 0;
            for (let e = 0; e < gc; e++, ch++) {
              dot += heap[dyBase + ch] * heap[xBase + ch];
            }
            heap[dkTap + g] = dot;
          }
        }
      }
    }
  }
}

/**
 * dx for stride 1 and images `[start, end)` as a gather: args dyAt, kAt,
 * dxAt, then the geometry. Each input pixel sums, over the taps that see it,
 * that output pixel's kernel weight times its dy. No scattered
 * read-modify-writes, so each dx element is written once.
 */
export function involutionGatherLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0, kAt = args[1] | 0, dxAt = args[2] | 0;
  const { h, w, c, outH, outW, groups, k, gc } = geometryOf(args);
  const p = (k - 1) >> 1;
  const kk = k * k * groups;
  const dyOffset = new Int32Array(k * k);
  const kOffset = new Int32Array(k * k);
  const weights = new Float32Array(k * k);
  for (let img = start | 0; img < (end | 0); img++) {
    for (let row = 0; row < h; row++) {
      for (let col = 0; col < w; col++) {
        let taps = 0;
        for (let u = 0; u < k; u++) {
          const i = row + p - u;
          if (i < 0 || i >= outH) continue;
          for (let v = 0; v < k; v++) {
            const j = col + p - v;
            if (j < 0 || j >= outW) continue;
            const pixel = (img * outH + i) * outW + j;
            dyOffset[taps] = dyAt + pixel * c;
            kOffset[taps] = kAt + pixel * kk + (u * k + v) * groups;
            taps++;
          }
        }
        weightedTapSums(
          heap,
          dxAt + ((img * h + row) * w + col) * c,
          groups,
          gc,
          k,
          taps,
          dyOffset,
          kOffset,
          weights,
        );
      }
    }
  }
}

/**
 * dx for strides above 1 and images `[start, end)`: args dyAt, kAt, dxAt,
 * then the geometry; each output pixel adds into the inputs it saw.
 */
export function involutionScatterLoop(
  heap: Float32Array,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const dyAt = args[0] | 0, kAt = args[1] | 0, dxAt = args[2] | 0;
  const geo = geometryOf(args);
  const { h, w, c, outH, outW, groups, k, gc } = geo;
  const kk = k * k * groups;
  const tapIndex = new Int32Array(k * k);
  const tapOffset = new Int32Array(k * k);
  const perImage = h * w * c;
  heap.fill(0, dxAt + (start | 0) * perImage, dxAt + (end | 0) * perImage);
  for (let img = start | 0; img < (end | 0); img++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const pixel = (img * outH + i) * outW + j;
        const dyBase = dyAt + pixel * c;
        const kBase = kAt + pixel * kk;
        // taps as offsets into dx itself
        const taps = validTaps(geo, dxAt, img, i, j, tapIndex, tapOffset);
        for (let t = 0; t < taps; t++) {
          const dxBase = tapOffset[t];
          const kTap = kBase + tapIndex[t] * groups;
          for (let g = 0, ch = 0; g < groups; g++) {
            const weight = heap[kTap + g];
            for (let e = 0; e < gc; e++, ch++) {
              heap[dxBase + ch] += weight * heap[dyBase + ch];
            }
          }
        }
      }
    }
  }
}

/**
 * One output pixel's sums over its `taps` valid taps of a K×K window, per
 * group of `gc` channels: `out[ch] = sum_t heap[kOffset[t] + g] · heap[offset[t] + ch]`,
 * summed in tap order (float64: at least as exact as the float32 sum of the
 * slice formulation). The forward's taps read x, the gather's read dy.
 */
function weightedTapSums(
  heap: Float32Array,
  outBase: number,
  groups: number,
  gc: number,
  k: number,
  taps: number,
  offset: Int32Array,
  kOffset: Int32Array,
  weights: Float32Array,
): void {
  if (k === 3 && taps === 9) {
    nineTapSums(heap, outBase, groups, gc, offset, kOffset);
    return;
  }
  for (let g = 0; g < groups; g++) {
    for (let t = 0; t < taps; t++) weights[t] = heap[kOffset[t] + g];
    for (let ch = g * gc, stop = ch + gc; ch < stop; ch++) {
      let sum = 0;
      for (let t = 0; t < taps; t++) sum += weights[t] * heap[offset[t] + ch];
      heap[outBase + ch] = sum;
    }
  }
}

/**
 * {@linkcode weightedTapSums} for a 3x3 window fully inside the image (most
 * pixels), unrolled: offsets and weights live in registers instead of being
 * re-read for every channel.
 */
function nineTapSums(
  heap: Float32Array,
  outBase: number,
  groups: number,
  gc: number,
  offset: Int32Array,
  kOffset: Int32Array,
): void {
  const o0 = offset[0], o1 = offset[1], o2 = offset[2];
  const o3 = offset[3], o4 = offset[4], o5 = offset[5];
  const o6 = offset[6], o7 = offset[7], o8 = offset[8];
  for (let g = 0; g < groups; g++) {
    const w0 = heap[kOffset[0] + g], w1 = heap[kOffset[1] + g];
    const w2 = heap[kOffset[2] + g], w3 = heap[kOffset[3] + g];
    const w4 = heap[kOffset[4] + g], w5 = heap[kOffset[5] + g];
    const w6 = heap[kOffset[6] + g], w7 = heap[kOffset[7] + g];
    const w8 = heap[kOffset[8] + g];
    for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
      heap[outBase + ch] = w0 * heap[o0 + ch] + w1 * heap[o1 + ch] +
        w2 * heap[o2 + ch] + w3 * heap[o3 + ch] + w4 * heap[o4 + ch] +
        w5 * heap[o5 + ch] + w6 * heap[o6 + ch] + w7 * heap[o7 + ch] +
        w8 * heap[o8 + ch];
    }
  }
}

function kernelGradNineTaps(
  heap: Float32Array,
  dyBase: number,
  dkBase: number,
  groups: number,
  gc: number,
  tapOffset: Int32Array,
): void {
  const o0 = tapOffset[0], o1 = tapOffset[1], o2 = tapOffset[2];
  const o3 = tapOffset[3], o4 = tapOffset[4], o5 = tapOffset[5];
  const o6 = tapOffset[6], o7 = tapOffset[7], o8 = tapOffset[8];
  for (let g = 0; g < groups; g++) {
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0, d8 = 0;
    for (let ch = g * gc, end = ch + gc; ch < end; ch++) {
      const grad = heap[dyBase + ch];
      d0 += grad * heap[o0 + ch];
      d1 += grad * heap[o1 + ch];
      d2 += grad * heap[o2 + ch];
      d3 += grad * heap[o3 + ch];
      d4 += grad * heap[o4 + ch];
      d5 += grad * heap[o5 + ch];
      d6 += grad * heap[o6 + ch];
      d7 += grad * heap[o7 + ch];
      d8 += grad * heap[o8 + ch];
    }
    heap[dkBase + g] = d0;
    heap[dkBase + groups + g] = d1;
    heap[dkBase + 2 * groups + g] = d2;
    heap[dkBase + 3 * groups + g] = d3;
    heap[dkBase + 4 * groups + g] = d4;
    heap[dkBase + 5 * groups + g] = d5;
    heap[dkBase + 6 * groups + g] = d6;
    heap[dkBase + 7 * groups + g] = d7;
    heap[dkBase + 8 * groups + g] = d8;
  }
}
