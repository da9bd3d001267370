/**
 * The involution's aggregation and its gradients as WebAssembly SIMD
 * (f32x4), written for one geometry at a time: sizes are constants, the
 * K·K taps and each group's channels are unrolled, and a group's sums stay
 * in vector registers. The same sums, in the same order, as the heap loops
 * of native/involution_loops.ts, but in float32 (the loops sum in float64).
 *
 * @module
 */
import {
  FunctionBody,
  I32,
  instantiateOn,
  type Local,
  V128,
} from "./_wasm_module.ts";
import { setWasmSimd, wasmSimdEnabled } from "./_switch.ts";

/** The geometry a kernel set is written for. */
export interface InvolutionSimdGeometry {
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Channels. */
  c: number;
  /** Kernel groups. */
  groups: number;
  /** Side K of the neighbourhood (odd). */
  k: number;
  /** Stride. */
  s: number;
}

/** A kernel over images `[start, end)` (start < end) at byte addresses. */
export type ImageRangeKernel = (
  a: number,
  b: number,
  out: number,
  start: number,
  end: number,
) => void;

/** The kernels for one geometry. */
export interface InvolutionSimd {
  /** y from (x, kernels). */
  forward: ImageRangeKernel;
  /** The kernels' gradient from (dy, x). */
  kernelGrad: ImageRangeKernel;
  /** dx from (dy, kernels): each input pixel sums the taps that saw it. */
  gather: ImageRangeKernel;
  /**
   * How far before a tensor a tap's base address may lie (bytes): taps are
   * constant offsets from a base up to this far before the tensor, so every
   * pointer argument must be at least this large.
   */
  reach: number;
}

interface Derived extends InvolutionSimdGeometry {
  gc: number;
  outH: number;
  outW: number;
  pad: number;
  taps: number;
}

function derive(geo: InvolutionSimdGeometry): Derived {
  const { h, w, c, groups, k, s } = geo;
  return {
    ...geo,
    gc: c / groups,
    outH: Math.ceil(h / s),
    outW: Math.ceil(w / s),
    pad: (k - 1) >> 1,
    taps: k * k,
  };
}

/**
 * Whether the SIMD kernels cover a geometry: channels per group a multiple
 * of 4 (whole vectors) and at most 64 (a group's sums in registers).
 */
export function simdCovers(geo: InvolutionSimdGeometry): boolean {
  const { c, groups, k, s, h, w } = geo;
  const gc = c / groups;
  return Number.isInteger(gc) && gc % 4 === 0 && gc <= 64 && k % 2 === 1 &&
    k <= 7 && s >= 1 && h >= 1 && w >= 1;
}

interface PixelLocals {
  /** The pixel's index over every image. */
  pixel: Local;
  /** Whether tap row u / column v lands inside the image. */
  rowOk: Local[];
  colOk: Local[];
  /** The loop's image, row and column. */
  img: Local;
  row: Local;
  col: Local;
}

/**
 * Loops over images [argument 3, argument 4), rows and columns of a
 * `rows`×`cols` grid; per pixel sets `pixel` and, for each tap, whether the
 * tap's row `rowOf(row, u)` (and column) lies in [0, limitRows) ([0,
 * limitCols)), then runs `body`.
 */
function overPixels(
  f: FunctionBody,
  grid: { rows: number; cols: number; limitRows: number; limitCols: number },
  k: number,
  tapOffset: (index: Local, tap: number) => void,
  body: (p: PixelLocals) => void,
): void {
  const { rows, cols, limitRows, limitCols } = grid;
  const img = 3, end = 4;
  const row = f.local(I32), col = f.local(I32), pixel = f.local(I32);
  const rowOk = Array.from({ length: k }, () => f.local(I32));
  const colOk = Array.from({ length: k }, () => f.local(I32));
  f.loop(img, null, { local: end }, 1, () => {
    f.loop(row, 0, { value: rows }, 1, () => {
      for (let u = 0; u < k; u++) {
        tapOffset(row, u);
        f.i32(limitRows).ltU().set(rowOk[u]);
      }
      f.loop(col, 0, { value: cols }, 1, () => {
        for (let v = 0; v < k; v++) {
          tapOffset(col, v);
          f.i32(limitCols).ltU().set(colOk[v]);
        }
        f.get(img).i32(rows).mul().get(row).add().i32(cols).mul().get(col)
          .add().set(pixel);
        body({ pixel, rowOk, colOk, img, row, col });
      });
    });
  });
}

/**
 * {@linkcode overPixels} over the output grid: tap (u, v) of output pixel
 * (row, col) reads input pixel (s·row + u - pad, s·col + v - pad), and
 * `corner` is set to the byte address of tap (0, 0) in the x of argument
 * `xArg` (before x when the tap lies outside it).
 */
function overOutputPixels(
  f: FunctionBody,
  geo: Derived,
  xArg: Local,
  corner: Local,
  body: (p: PixelLocals) => void,
): void {
  const { h, w, c, k, s, outH, outW, pad } = geo;
  overPixels(
    f,
    { rows: outH, cols: outW, limitRows: h, limitCols: w },
    k,
    (index, tap) => f.get(index).i32(s).mul().i32(tap - pad).add(),
    (p) => {
      const { img, row, col } = p;
      // ((img·h + s·row - pad)·w + s·col - pad)·c floats into x
      f.get(xArg).get(img).i32(h).mul().get(row).i32(s).mul().add().i32(pad)
        .sub().i32(w).mul().get(col).i32(s).mul().add().i32(pad).sub()
        .i32(c * 4).mul().add().set(corner);
      body(p);
    },
  );
}

/** `address = base + index·scale + extra·extraScale` into `out`. */
function addressOf(
  f: FunctionBody,
  out: Local,
  base: Local,
  index: Local,
  scale: number,
  extra?: Local,
  extraScale = 0,
): void {
  f.get(base).get(index).i32(scale).mul().add();
  if (extra !== undefined) f.get(extra).i32(extraScale).mul().add();
  f.set(out);
}

function forwardKernel(geo: Derived): FunctionBody {
  const { w, c, groups, k, gc, taps } = geo;
  const f = new FunctionBody(5);
  const acc = Array.from({ length: gc / 4 }, () => f.local(V128));
  const weight = f.local(V128);
  const g = f.local(I32), gk = f.local(I32), gx = f.local(I32);
  const gy = f.local(I32), corner = f.local(I32);
  const [xAt, kAt, yAt] = [0, 1, 2];
  overOutputPixels(f, geo, xAt, corner, ({ pixel, rowOk, colOk }) => {
    f.loop(g, 0, { value: groups }, 1, () => {
      addressOf(f, gk, kAt, pixel, taps * groups * 4, g, 4);
      f.get(corner).get(g).i32(gc * 4).mul().add().set(gx);
      for (const a of acc) f.zeros().set(a);
      for (let u = 0; u < k; u++) {
        for (let v = 0; v < k; v++) {
          f.get(rowOk[u]).get(colOk[v]).and().if(() => {
            f.get(gk).loadSplat((u * k + v) * groups * 4).set(weight);
            acc.forEach((a, q) => {
              f.get(a).get(weight).get(gx)
                .v128Load(((u * w + v) * c + 4 * q) * 4).vMul().vAdd()
                .set(a);
            });
          });
        }
      }
      addressOf(f, gy, yAt, pixel, c * 4, g, gc * 4);
      acc.forEach((a, q) => f.get(gy).get(a).v128Store(16 * q));
    });
  });
  return f;
}

function kernelGradKernel(geo: Derived): FunctionBody {
  const { w, c, groups, k, gc, taps } = geo;
  const f = new FunctionBody(5);
  const grads = Array.from({ length: gc / 4 }, () => f.local(V128));
  const dot = f.local(V128);
  const g = f.local(I32), gdk = f.local(I32), gx = f.local(I32);
  const gdy = f.local(I32), corner = f.local(I32);
  const [dyAt, xAt, dkAt] = [0, 1, 2];
  overOutputPixels(f, geo, xAt, corner, ({ pixel, rowOk, colOk }) => {
    f.loop(g, 0, { value: groups }, 1, () => {
      addressOf(f, gdy, dyAt, pixel, c * 4, g, gc * 4);
      grads.forEach((d, q) => f.get(gdy).v128Load(16 * q).set(d));
      addressOf(f, gdk, dkAt, pixel, taps * groups * 4, g, 4);
      f.get(corner).get(g).i32(gc * 4).mul().add().set(gx);
      for (let u = 0; u < k; u++) {
        for (let v = 0; v < k; v++) {
          const out = (u * k + v) * groups * 4;
          f.get(rowOk[u]).get(colOk[v]).and().if(() => {
            grads.forEach((d, q) => {
              f.get(d).get(gx).v128Load(((u * w + v) * c + 4 * q) * 4)
                .vMul();
              if (q > 0) f.get(dot).vAdd();
              f.set(dot);
            });
            // lanes summed pairwise: (0 + 1) + (2 + 3)
            f.get(gdk)
              .get(dot).lane(0).get(dot).lane(1).f32Add()
              .get(dot).lane(2).get(dot).lane(3).f32Add().f32Add()
              .f32Store(out);
          }, () => {
            f.get(gdk).f32Zero().f32Store(out);
          });
        }
      }
    });
  });
  return f;
}

function gatherKernel(geo: Derived): FunctionBody {
  const { h, w, c, groups, k, gc, taps, pad } = geo;
  const f = new FunctionBody(5);
  const acc = Array.from({ length: gc / 4 }, () => f.local(V128));
  const weight = f.local(V128);
  const g = f.local(I32), gk = f.local(I32), gdy = f.local(I32);
  const gdx = f.local(I32), first = f.local(I32);
  const [dyAt, kAt, dxAt] = [0, 1, 2];
  // Input pixel (row, col) gets tap (u, v) of output pixel (row + pad - u,
  // col + pad - v); all such pixels lie at or after `first`, the output
  // pixel (row - pad, col - pad).
  overPixels(
    f,
    { rows: h, cols: w, limitRows: h, limitCols: w },
    k,
    (index, tap) => f.get(index).i32(pad - tap).add(),
    ({ pixel, rowOk, colOk }) => {
      f.get(pixel).i32(pad * w + pad).sub().set(first);
      f.loop(g, 0, { value: groups }, 1, () => {
        addressOf(f, gdy, dyAt, first, c * 4, g, gc * 4);
        addressOf(f, gk, kAt, first, taps * groups * 4, g, 4);
        for (const a of acc) f.zeros().set(a);
        for (let u = 0; u < k; u++) {
          for (let v = 0; v < k; v++) {
            const shift = (2 * pad - u) * w + (2 * pad - v);
            f.get(rowOk[u]).get(colOk[v]).and().if(() => {
              f.get(gk).loadSplat(
                (shift * taps * groups + (u * k + v) * groups) * 4,
              ).set(weight);
              acc.forEach((a, q) => {
                f.get(a).get(weight).get(gdy)
                  .v128Load((shift * c + 4 * q) * 4).vMul().vAdd().set(a);
              });
            });
          }
        }
        addressOf(f, gdx, dxAt, pixel, c * 4, g, gc * 4);
        acc.forEach((a, q) => f.get(gdx).get(a).v128Store(16 * q));
      });
    },
  );
  return f;
}

// Strides above 1: input row r is tap u of output row (r + pad - u) / s
// when that divides; the taps' pixels are computed per pixel, not constant
// offsets.
function stridedGatherKernel(geo: Derived): FunctionBody {
  const { h, w, c, groups, k, s, gc, taps, outH, outW, pad } = geo;
  const f = new FunctionBody(5);
  const acc = Array.from({ length: gc / 4 }, () => f.local(V128));
  const weight = f.local(V128);
  const g = f.local(I32), gk = f.local(I32), gdy = f.local(I32);
  const gdx = f.local(I32), tapPixel = f.local(I32), t = f.local(I32);
  const rowBase = Array.from({ length: k }, () => f.local(I32));
  const colIndex = Array.from({ length: k }, () => f.local(I32));
  const [dyAt, kAt, dxAt] = [0, 1, 2];
  const img = 3, end = 4;
  const row = f.local(I32), col = f.local(I32), pixel = f.local(I32);
  const rowOk = Array.from({ length: k }, () => f.local(I32));
  const colOk = Array.from({ length: k }, () => f.local(I32));
  // ok = (t % s == 0) & (t / s <u limit), index = t / s, t = at + pad - tap
  const divides = (at: Local, tap: number, limit: number, ok: Local) => {
    f.get(at).i32(pad - tap).add().set(t);
    f.get(t).i32(s).remS().eqz().get(t).i32(s).divS().i32(limit).ltU().and()
      .set(ok);
    f.get(t).i32(s).divS();
  };
  f.loop(img, null, { local: end }, 1, () => {
    f.loop(row, 0, { value: h }, 1, () => {
      for (let u = 0; u < k; u++) {
        divides(row, u, outH, rowOk[u]);
        f.get(img).i32(outH).mul().add().i32(outW).mul().set(rowBase[u]);
      }
      f.loop(col, 0, { value: w }, 1, () => {
        for (let v = 0; v < k; v++) {
          divides(col, v, outW, colOk[v]);
          f.set(colIndex[v]);
        }
        f.get(img).i32(h).mul().get(row).add().i32(w).mul().get(col).add()
          .set(pixel);
        f.loop(g, 0, { value: groups }, 1, () => {
          f.get(dyAt).get(g).i32(gc * 4).mul().add().set(gdy);
          f.get(kAt).get(g).i32(4).mul().add().set(gk);
          for (const a of acc) f.zeros().set(a);
          for (let u = 0; u < k; u++) {
            for (let v = 0; v < k; v++) {
              f.get(rowOk[u]).get(colOk[v]).and().if(() => {
                f.get(rowBase[u]).get(colIndex[v]).add().set(tapPixel);
                f.get(gk).get(tapPixel).i32(taps * groups * 4).mul().add()
                  .loadSplat((u * k + v) * groups * 4).set(weight);
                f.get(gdy).get(tapPixel).i32(c * 4).mul().add().set(tapPixel);
                acc.forEach((a, q) => {
                  f.get(a).get(weight).get(tapPixel).v128Load(16 * q).vMul()
                    .vAdd().set(a);
                });
              });
            }
          }
          addressOf(f, gdx, dxAt, pixel, c * 4, g, gc * 4);
          acc.forEach((a, q) => f.get(gdx).get(a).v128Store(16 * q));
        });
      });
    });
  });
  return f;
}

/**
 * Writes, compiles and instantiates the kernels for `geo` on `memory` (the
 * wasm backend's heap). Throws when WebAssembly SIMD is unavailable; check
 * {@linkcode simdCovers} first.
 */
export function buildInvolutionSimd(
  geo: InvolutionSimdGeometry,
  memory: WebAssembly.Memory,
): InvolutionSimd {
  const d = derive(geo);
  const functions: Record<string, FunctionBody> = {
    forward: forwardKernel(d),
    kernelGrad: kernelGradKernel(d),
    gather: d.s === 1 ? gatherKernel(d) : stridedGatherKernel(d),
  };
  const exports = instantiateOn<ImageRangeKernel>(memory, functions);
  return {
    forward: exports.forward,
    kernelGrad: exports.kernelGrad,
    gather: exports.gather,
    reach: (d.pad * d.w + d.pad) * Math.max(d.c, d.taps * d.groups) * 4,
  };
}

export { setWasmSimd };

const built = new WeakMap<
  WebAssembly.Memory,
  Map<string, InvolutionSimd | null>
>();

/**
 * The SIMD kernels for `geo` on `memory`, made on first use and kept per
 * geometry; undefined when they are off, do not cover the geometry, or
 * WebAssembly SIMD is unavailable (the caller then runs the heap loops).
 */
export function involutionSimd(
  memory: WebAssembly.Memory | undefined,
  geo: InvolutionSimdGeometry,
): InvolutionSimd | undefined {
  if (!wasmSimdEnabled() || memory === undefined || !simdCovers(geo)) {
    return undefined;
  }
  let perGeometry = built.get(memory);
  if (!perGeometry) built.set(memory, perGeometry = new Map());
  const key = `${geo.h},${geo.w},${geo.c},${geo.groups},${geo.k},${geo.s}`;
  let kernels = perGeometry.get(key);
  if (kernels === undefined) {
    try {
      kernels = buildInvolutionSimd(geo, memory);
    } catch {
      // no WebAssembly SIMD here (or the memory cannot be imported): the
      // heap loops run instead, and the failure is not retried
      kernels = null;
    }
    perGeometry.set(key, kernels);
  }
  return kernels ?? undefined;
}
