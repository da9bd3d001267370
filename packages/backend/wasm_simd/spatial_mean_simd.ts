/**
 * The mean over the middle axes of `[images, rows, width]` (a global
 * average pool of NHWC images) as WebAssembly SIMD in double precision:
 * sixteen channels at a time in eight f64x2 sums, each channel summed in
 * row order and divided by the row count as the float64 loop does
 * (native/loops.ts `spatialMeanLoop`), so the values are the same to the
 * bit.
 *
 * @module
 */
import { FunctionBody, I32, instantiateOn, V128 } from "./_wasm_module.ts";
import { perMemory } from "./_switch.ts";

/** Channels per block: eight pairs of doubles. */
export const MEAN_BLOCK = 16;

/**
 * Means of `images` images of `rows` rows of `width` floats (a multiple of
 * {@linkcode MEAN_BLOCK}, rows and images at least 1) from byte address
 * `xAt` into `[images, width]` at `outAt`.
 */
export type SpatialMeanKernel = (
  xAt: number,
  outAt: number,
  images: number,
  rows: number,
  width: number,
) => void;

function spatialMeanKernel(): FunctionBody {
  const f = new FunctionBody(5);
  const [xAt, outAt, images, rows, width] = [0, 1, 2, 3, 4];
  const sums = Array.from({ length: MEAN_BLOCK / 2 }, () => f.local(V128));
  const count = f.local(V128);
  const [image, block, row, rowBytes, at, out] = Array.from(
    { length: 6 },
    () => f.local(I32),
  );
  f.get(rows).f64FromU32().dSplat().set(count);
  f.get(width).i32(4).mul().set(rowBytes);
  f.loop(image, 0, { local: images }, 1, () => {
    f.loop(block, 0, { local: width }, MEAN_BLOCK, () => {
      for (const sum of sums) f.zeros().set(sum);
      // this block's first float in the image's first row
      f.get(xAt).get(image).get(rows).mul().get(rowBytes).mul().add()
        .get(block).i32(4).mul().add().set(at);
      f.loop(row, 0, { local: rows }, 1, () => {
        sums.forEach((sum, k) => {
          f.get(sum).get(at).load64Zero(8 * k).promoteLow().dAdd().set(sum);
        });
        f.get(at).get(rowBytes).add().set(at);
      });
      f.get(outAt).get(image).get(rowBytes).mul().add()
        .get(block).i32(4).mul().add().set(out);
      sums.forEach((sum, k) => {
        f.get(out).get(sum).get(count).dDiv().demoteZero().store64Low(8 * k);
      });
    });
  });
  return f;
}

/**
 * The spatial mean kernel on `memory` (the wasm backend's heap), made on
 * first use; undefined when the SIMD kernels are off or WebAssembly SIMD is
 * unavailable (the caller then runs its loop).
 */
export const spatialMeanSimd: (
  memory: WebAssembly.Memory | undefined,
) => SpatialMeanKernel | undefined = perMemory((memory) =>
  instantiateOn<SpatialMeanKernel>(memory, { mean: spatialMeanKernel() }).mean
);
