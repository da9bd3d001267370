import * as tf from "@tensorflow/tfjs";
import { byteOffset, heapBuffer, heapFloats, release } from "../native/heap.ts";
import { activeDnnlBatchNorm } from "../native/_dnnl_batch_norm.ts";
import { maskReluGradient } from "../native/dnnl_add_relu.ts";
import { LoopId } from "../native/loops.ts";
import { runHeapLoop } from "../fused/parallel_loops.ts";
import { movingAverageOnHeap } from "../fused/moving_average_kernel.ts";
import { asWasm, locate, requireFloat, sizeOf, WASM } from "./heap_view.ts";
import type { GradConfig, KernelConfig } from "../tf_types.ts";
import { checkMoving } from "./_moving_statistics.ts";

// Floats per block of rows (two inputs of a block: 16 KiB of L1).
const BLOCK_FLOATS = 2048;

/** A whole number of rows, about BLOCK_FLOATS floats. */
function blockFloats(channels: number): number {
  return Math.max(1, Math.floor(BLOCK_FLOATS / channels)) * channels;
}

/** Kernel: training batch norm over every axis but the last. */
export const BATCH_NORM_TRAIN = "VitkdBatchNormTrain";
/** Kernel: the gradient of {@linkcode BATCH_NORM_TRAIN}. */
export const BATCH_NORM_TRAIN_GRAD = "VitkdBatchNormTrainGrad";

function checkChannels(
  kernel: string,
  x: tf.TensorInfo,
  named: Record<string, tf.TensorInfo>,
): number {
  if (x.shape.length < 1) throw new Error(`${kernel}: x must have rank >= 1`);
  const channels = x.shape[x.shape.length - 1];
  for (const [name, t] of Object.entries(named)) {
    requireFloat(kernel, name, t);
    if (t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new Error(
        `${kernel}: ${name} must have shape [${channels}] (x is [${x.shape}]), got [${t.shape}]`,
      );
    }
  }
  requireFloat(kernel, "x", x);
  return channels;
}

/**
 * Forward: from x `[..., C]`, gamma and beta `[C]` makes `y`, the batch
 * `mean` and (biased) `variance`, and `invStd = 1/sqrt(variance + epsilon)`.
 * Statistics are summed in float64, so they are at least as exact as
 * `tf.moments`; y is `(x - mean)·a + beta` with `a = gamma·invStd`, then
 * `max(y, 0)` with the attribute `relu` (a BN + ReLU pair in one pass).
 * A fifth output holds oneDNN's ReLU mask (a bit a value) for the
 * gradient, or is empty.
 */
export const batchNormTrainConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAIN,
  backendName: WASM,
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<
      string,
      tf.TensorInfo
    >;
    const { epsilon, relu, momentum } = (attrs ?? {}) as {
      epsilon?: number;
      relu?: boolean;
      momentum?: number;
    };
    if (typeof epsilon !== "number" || !(epsilon > 0)) {
      throw new Error(
        `${BATCH_NORM_TRAIN}: attribute epsilon must be a number > 0, got ${epsilon}`,
      );
    }
    const moving = checkMoving(movingMean, movingVariance, momentum);
    const channels = checkChannels(BATCH_NORM_TRAIN, x, {
      gamma,
      beta,
      ...(moving ? { movingMean, movingVariance } : {}),
    });
    const backend = asWasm(b);
    const y = backend.makeOutput([...x.shape], "float32");
    const mean = backend.makeOutput([channels], "float32");
    const variance = backend.makeOutput([channels], "float32");
    const invStd = backend.makeOutput([channels], "float32");
    const size = sizeOf(x.shape);
    // the statistics are made: the moving ones follow, and the outputs go
    const done = (workspace?: tf.TensorInfo) => {
      if (moving && size > 0) {
        // in place, the values of the separate VitkdMovingAverages update
        const factor = Math.fround(1 - momentum!);
        movingAverageOnHeap(backend, movingMean, mean, movingMean, factor);
        movingAverageOnHeap(
          backend,
          movingVariance,
          variance,
          movingVariance,
          factor,
        );
      }
      return [y, mean, variance, invStd, workspace ?? noMask(backend)];
    };
    const dnnl = activeDnnlBatchNorm();
    if (dnnl && size > 0) {
      const run = (
        kind: "forward" | "forwardRelu",
        workspace?: tf.TensorInfo,
      ) =>
        dnnl.run(
          kind,
          x.shape,
          epsilon,
          heapBuffer(backend),
          [x, y, gamma, beta, mean, variance, ...(workspace ? [workspace] : [])]
            .map((t) => byteOffset(backend, t)),
        ) === undefined;
      let workspace: tf.TensorInfo | undefined;
      const bytes = relu === true
        ? dnnl.workspaceBytes(x.shape, epsilon)
        : undefined;
      if (bytes !== undefined) {
        workspace = backend.makeOutput([Math.ceil(bytes / 4)], "int32");
        if (!run("forwardRelu", workspace)) {
          release(backend, workspace);
          workspace = undefined;
        }
      }
      if (workspace || run("forward")) {
        // oneDNN gives the variance; the gradient wants 1/std too
        const heap = heapFloats(backend);
        const vAt = byteOffset(backend, variance) / 4;
        const iAt = byteOffset(backend, invStd) / 4;
        for (let c = 0; c < channels; c++) {
          heap[iAt + c] = 1 / Math.sqrt(heap[vAt + c] + epsilon);
        }
        if (relu === true && !workspace) reluInPlace(backend, y, channels);
        return done(workspace);
      }
    }
    // center, factor and shift on the heap, where the helper thread can
    // read them too
    const params = backend.makeOutput([3 * channels], "float32");
    const { heap, at } = locate(backend, [
      x,
      gamma,
      beta,
      y,
      mean,
      variance,
      invStd,
      params,
    ]);
    const [xAt, gAt, bAt, yAt, mAt, vAt, iAt, pAt] = at;
    statisticsLoops(
      heap,
      { xAt, gAt, bAt, mAt, vAt, iAt, pAt },
      channels,
      size,
      epsilon,
    );
    // One loop per variant: a relu branch inside the loop made V8 compile
    // the loop about 3x slower once both variants had run.
    runHeapLoop(
      backend,
      relu === true ? LoopId.ChannelAffineRelu : LoopId.ChannelAffine,
      [xAt, yAt, pAt, channels],
      size / channels,
      channels,
    );
    release(backend, params);
    return done();
  },
};

// The fifth output when no oneDNN ReLU mask was written: empty, and the
// gradient then masks dy from y.
function noMask(backend: ReturnType<typeof asWasm>): tf.TensorInfo {
  return backend.makeOutput([0], "int32");
}

/**
 * Backward: from dy, x, mean, invStd and gamma makes dx, dGamma and dBeta
 * (mean and variance are functions of x; dx accounts for that). With the
 * attribute `relu`, dy is masked where the forward's y was clipped: by
 * oneDNN's mask from the forward (input `mask`) or from `y`.
 */
export const batchNormTrainGradConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: WASM,
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const { dy, x, mean, invStd, gamma, y, mask } = inputs as Record<
      string,
      tf.TensorInfo
    >;
    const relu = (attrs as { relu?: boolean } | undefined)?.relu === true;
    if (relu && (y === undefined || y.shape.join(",") !== x.shape.join(","))) {
      throw new Error(
        `${BATCH_NORM_TRAIN_GRAD}: relu needs the forward output y of shape [${x.shape}], got ${
          y ? `[${y.shape}]` : "none"
        }`,
      );
    }
    const channels = checkChannels(BATCH_NORM_TRAIN_GRAD, x, {
      mean,
      invStd,
      gamma,
    });
    requireFloat(BATCH_NORM_TRAIN_GRAD, "dy", dy);
    if (dy.shape.join(",") !== x.shape.join(",")) {
      throw new Error(
        `${BATCH_NORM_TRAIN_GRAD}: dy [${dy.shape}] and x [${x.shape}] differ in shape`,
      );
    }
    const backend = asWasm(b);
    const dx = backend.makeOutput([...x.shape], "float32");
    const dGamma = backend.makeOutput([channels], "float32");
    const dBeta = backend.makeOutput([channels], "float32");
    const size = sizeOf(x.shape);
    const dnnl = activeDnnlBatchNorm();
    if (
      dnnl && size > 0 &&
      dnnlGradient(
        backend,
        dnnl,
        { dy, x, mean, invStd, gamma, y, mask },
        relu,
        [dx, dGamma, dBeta],
      )
    ) {
      return [dx, dGamma, dBeta];
    }
    // dx's per-channel a, b and k on the heap, for the helper thread too
    const params = backend.makeOutput([3 * channels], "float32");
    const { heap, at } = locate(backend, [
      dy,
      x,
      mean,
      invStd,
      gamma,
      dx,
      dGamma,
      dBeta,
      params,
    ]);
    const [dyIn, xAt, mAt, iAt, gAt, dxAt, dgAt, dbAt, pAt] = at;
    // With relu the incoming gradient is first masked where y was clipped:
    // dx's own buffer holds the masked copy.
    let dyAt = dyIn;
    if (relu) {
      maskReluGradient(backend, dy, y!, dx);
      dyAt = dxAt;
    }
    gradientSums(
      heap,
      { dyAt, xAt, mAt, iAt, gAt, dgAt, dbAt, pAt },
      channels,
      size,
    );
    runHeapLoop(
      backend,
      LoopId.ChannelGradient,
      [dyAt, dxAt, xAt, pAt, channels],
      size / channels,
      channels,
    );
    release(backend, params);
    return [dx, dGamma, dBeta];
  },
};

// max(y, 0) in place: the affine loop with center 0, factor 1 and shift 0.
function reluInPlace(
  backend: ReturnType<typeof asWasm>,
  y: tf.TensorInfo,
  channels: number,
): void {
  const params = backend.makeOutput([3 * channels], "float32");
  const heap = heapFloats(backend);
  const pAt = byteOffset(backend, params) / 4;
  heap.fill(0, pAt, pAt + 3 * channels);
  heap.fill(1, pAt + channels, pAt + 2 * channels);
  const yAt = byteOffset(backend, y) / 4;
  runHeapLoop(
    backend,
    LoopId.ChannelAffineRelu,
    [yAt, yAt, pAt, channels],
    sizeOf(y.shape) / channels,
    channels,
  );
  release(backend, params);
}

/**
 * The gradient by oneDNN into `outputs` (dx, dGamma, dBeta); false when it
 * refused (the caller then runs the loops). With relu, the fused backward
 * reads the forward's mask when there is one; otherwise dy is first masked
 * where y was clipped, into a buffer of its own.
 */
function dnnlGradient(
  backend: ReturnType<typeof asWasm>,
  dnnl: NonNullable<ReturnType<typeof activeDnnlBatchNorm>>,
  inputs: Record<"dy" | "x" | "mean" | "invStd" | "gamma", tf.TensorInfo> & {
    y?: tf.TensorInfo;
    mask?: tf.TensorInfo;
  },
  relu: boolean,
  outputs: tf.TensorInfo[],
): boolean {
  const { dy, x, mean, invStd, gamma, y, mask } = inputs;
  const [dx, dGamma, dBeta] = outputs;
  const channels = gamma.shape[0];
  // oneDNN wants the variance: 1/invStd² with epsilon 0 gives back the
  // same 1/std the forward used
  const variance = backend.makeOutput([channels], "float32");
  const heap = heapFloats(backend);
  const vAt = byteOffset(backend, variance) / 4;
  const iAt = byteOffset(backend, invStd) / 4;
  for (let c = 0; c < channels; c++) {
    heap[vAt + c] = 1 / (heap[iAt + c] * heap[iAt + c]);
  }
  const run = (
    kind: "backward" | "backwardRelu",
    gradient: tf.TensorInfo,
    workspace?: tf.TensorInfo,
  ) =>
    dnnl.run(
      kind,
      x.shape,
      0,
      heapBuffer(backend),
      [
        x,
        mean,
        variance,
        gradient,
        gamma,
        gamma,
        dx,
        dGamma,
        dBeta,
        ...(workspace ? [workspace] : []),
      ].map((t) => byteOffset(backend, t)),
    ) === undefined;
  let done = relu && mask !== undefined && sizeOf(mask.shape) > 0 &&
    run("backwardRelu", dy, mask);
  if (!done) {
    // The masked dy goes to a buffer of its own: oneDNN's backward in
    // place (diff_dst = diff_src) ran up to 5x slower (32 channels).
    const masked = relu
      ? backend.makeOutput([...dy.shape], "float32")
      : undefined;
    if (masked) maskReluGradient(backend, dy, y!, masked);
    done = run("backward", masked ?? dy);
    if (masked) release(backend, masked);
  }
  release(backend, variance);
  return done;
}

// The hot loops live in top-level functions: inside the kernel closure V8
// compiled them about 3x slower. The elementwise passes are heap loops
// (native/loops.ts) that the helper thread shares.

/**
 * The batch statistics (summed in float64) into mean, variance and invStd,
 * and the affine's center, factor and shift into `pAt`.
 */
function statisticsLoops(
  heap: Float32Array,
  at: Record<"xAt" | "gAt" | "bAt" | "mAt" | "vAt" | "iAt" | "pAt", number>,
  channels: number,
  size: number,
  epsilon: number,
): void {
  const { xAt, gAt, bAt, mAt, vAt, iAt, pAt } = at;
  const rows = size / channels;
  // Blocks of rows that stay in L1 while each channel is walked in turn:
  // per-channel sums stay in registers and each cache line is fetched once
  // per pass (a whole-tensor walk per channel fetched it C times).
  const block = blockFloats(channels);
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  for (let start = 0; start < size; start += block) {
    const stop = Math.min(size, start + block);
    for (let c = 0; c < channels; c++) {
      let sum = 0, square = 0;
      for (
        let p = xAt + start + c, end = xAt + stop;
        p < end;
        p += channels
      ) {
        const v = heap[p];
        sum += v;
        square += v * v;
      }
      sums[c] += sum;
      squares[c] += square;
    }
  }
  for (let c = 0; c < channels; c++) {
    const m = rows > 0 ? sums[c] / rows : 0;
    const v = rows > 0 ? Math.max(0, squares[c] / rows - m * m) : 0;
    const inv = 1 / Math.sqrt(v + epsilon);
    heap[mAt + c] = m;
    heap[vAt + c] = v;
    heap[iAt + c] = inv;
    heap[pAt + c] = m;
    heap[pAt + channels + c] = inv * heap[gAt + c];
    heap[pAt + 2 * channels + c] = heap[bAt + c];
  }
}

/**
 * dGamma and dBeta from per-channel sums of dy and dy·(x - mean) (float64),
 * and dx's per-channel `a`, `b`, `k` (`dx = a·dy + b·x + k`) into `pAt`.
 */
function gradientSums(
  heap: Float32Array,
  at: Record<
    "dyAt" | "xAt" | "mAt" | "iAt" | "gAt" | "dgAt" | "dbAt" | "pAt",
    number
  >,
  channels: number,
  size: number,
): void {
  const { dyAt, xAt, mAt, iAt, gAt, dgAt, dbAt, pAt } = at;
  const rows = size / channels;
  // Blocks of rows that stay in L1 while each channel is walked in turn:
  // per-channel sums stay in registers and each cache line is fetched once.
  const block = blockFloats(channels);
  const sumDy = new Float64Array(channels);
  const sumDyX = new Float64Array(channels);
  for (let start = 0; start < size; start += block) {
    const stop = Math.min(size, start + block);
    for (let c = 0; c < channels; c++) {
      const m = heap[mAt + c];
      let gradSum = 0, gradDot = 0;
      for (let p = start + c; p < stop; p += channels) {
        const g = heap[dyAt + p];
        gradSum += g;
        gradDot += g * (heap[xAt + p] - m);
      }
      sumDy[c] += gradSum;
      sumDyX[c] += gradDot;
    }
  }
  // dx = gamma·inv·(dy - dBeta/n - xhat·dGamma/n), xhat = (x - mean)·inv,
  // written as a·dy + b·x + k per channel (each rounded to float32 on the
  // heap, as the loop reads them).
  for (let c = 0; c < channels; c++) {
    const inv = heap[iAt + c];
    const dGammaC = sumDyX[c] * inv;
    heap[dgAt + c] = dGammaC;
    heap[dbAt + c] = sumDy[c];
    heap[pAt + c] = heap[gAt + c] * inv;
    const a = heap[pAt + c];
    heap[pAt + channels + c] = rows > 0 ? -a * inv * dGammaC / rows : 0;
    const b = heap[pAt + channels + c];
    heap[pAt + 2 * channels + c] = (rows > 0 ? -a * sumDy[c] / rows : 0) -
      b * heap[mAt + c];
  }
}

/** The gradient of {@linkcode BATCH_NORM_TRAIN}: one backward kernel call. */
export const batchNormTrainGradient: GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ["x", "gamma"],
  // Saving is a shared reference on wasm (see shared_copies.ts), so y is
  // kept for the relu mask at no cost; the fifth output (wasm only) is
  // oneDNN's ReLU mask, when it wrote one.
  outputsToSave: [true, true, false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma, y, mean, invStd, mask] = saved;
    const dys = dy as tf.Tensor[];
    const relu = (attrs as { relu?: boolean }).relu === true;
    const reluInputs: tf.NamedTensorMap = mask && mask.size > 0
      ? { y, mask }
      : { y };
    const [dx, dGamma, dBeta] = tf.engine().runKernel(
      BATCH_NORM_TRAIN_GRAD,
      { dy: dys[0], x, mean, invStd, gamma, ...(relu ? reluInputs : {}) },
      { relu },
    ) as tf.Tensor[];
    // y does not depend on the moving statistics (inputs only when the
    // kernel updates them in place)
    const none = () => tf.zerosLike(gamma);
    return {
      x: () => dx,
      gamma: () => dGamma,
      beta: () => dBeta,
      movingMean: none,
      movingVariance: none,
    };
  },
};

/**
 * `FusedBatchNorm` (inference batch norm, `tf.batchNorm`) on wasm as one JS
 * pass, `y = (x - mean)·scale/sqrt(variance + eps) + offset`, when every
 * parameter is a per-channel vector of the last axis; other broadcasts run
 * `stock`. The stock kernel was ~17% of a ResNet-8 inference.
 */
export function batchNormInferenceConfig(
  stock: KernelConfig,
): KernelConfig {
  return {
    kernelName: "FusedBatchNorm",
    backendName: WASM,
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
    kernelFunc: (args) => {
      const { x, mean, variance, offset, scale } = args.inputs as Record<
        string,
        tf.TensorInfo | undefined
      >;
      const epsilon = (args.attrs as { varianceEpsilon: number })
        .varianceEpsilon;
      const channels = x!.shape[x!.shape.length - 1] ?? 0;
      const perChannel = x!.dtype === "float32" && channels > 0 &&
        [mean, variance, offset, scale].every((t) =>
          t === undefined ||
          (t.dtype === "float32" && sizeOf(t.shape) === channels)
        );
      if (!perChannel || mean === undefined || variance === undefined) {
        return stock.kernelFunc(args);
      }
      const backend = asWasm(args.backend);
      const y = backend.makeOutput([...x!.shape], "float32");
      // center, factor and shift on the heap, where the helper thread can
      // read them too
      const params = backend.makeOutput([3 * channels], "float32");
      const { heap, at } = locate(
        backend,
        [x!, mean, variance, y, offset ?? x!, scale ?? x!, params],
      );
      const [xAt, mAt, vAt, yAt, oAt, sAt, pAt] = at;
      for (let c = 0; c < channels; c++) {
        const gamma = scale ? heap[sAt + c] : 1;
        heap[pAt + c] = heap[mAt + c];
        heap[pAt + channels + c] = gamma / Math.sqrt(heap[vAt + c] + epsilon);
        heap[pAt + 2 * channels + c] = offset ? heap[oAt + c] : 0;
      }
      runHeapLoop(
        backend,
        LoopId.ChannelAffine,
        [xAt, yAt, pAt, channels],
        sizeOf(x!.shape) / channels,
        channels,
      );
      release(backend, params);
      return y;
    },
  };
}
