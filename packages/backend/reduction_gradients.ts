import * as tf from "@tensorflow/tfjs";
import { axisBlock, SPREAD_ROWS } from "./webgpu/layout_kernels.ts";

/**
 * `dy / divisor` spread over the reduced `axes` of `x` by one
 * {@linkcode SPREAD_ROWS} kernel, where the backend has it and the axes are
 * a block before the last; else undefined.
 */
function spreadGradient(
  dy: tf.Tensor,
  x: tf.Tensor,
  axes: number[],
  divisor: number,
): { x: () => tf.Tensor } | undefined {
  if (
    !tf.getKernel(SPREAD_ROWS, tf.getBackend()) || !axisBlock(x.shape, axes)
  ) {
    return undefined;
  }
  return {
    x: () =>
      tf.engine().runKernel(SPREAD_ROWS, { dy }, {
        shape: x.shape,
        axes,
        divisor,
      }) as tf.Tensor,
  };
}

/**
 * The gradient of `Mean` without tfjs's `ones(x.shape)` on WebGPU: tfjs's
 * own builds that tensor on the CPU at every call, which on WebGPU is a
 * full-size upload per batch norm and pooling layer per step. Other backends
 * keep tfjs's formulation (see below). This one scales the
 * small `dy` first and broadcasts it: the same values (`dy · 1 / n` and
 * `dy / n` round alike), one broadcast instead of an upload and a multiply.
 * On WebGPU a mean over consecutive axes before the last (global average
 * pooling) spreads `dy / n` in one dispatch.
 */
export const meanGradient: tf.GradConfig = {
  kernelName: "Mean",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as { axis: number | number[] };
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const size = axes.reduce((n, a) => n * x.shape[a], 1);
    const keptShape = x.shape.map((d, a) => axes.includes(a) ? 1 : d);
    // WebGPU and wasm: the division and the broadcast in one kernel
    const spread = spreadGradient(dy as tf.Tensor, x, axes, size);
    if (spread) return spread;
    if (tf.getBackend() !== "webgpu") {
      // tfjs's own formulation: broadcastTo runs Tile, which on wasm is a
      // scalar loop (rednet8 trained at 200 img/s with it, 360 without)
      return {
        x: () =>
          tf.div(
            tf.mul(tf.reshape(dy as tf.Tensor, keptShape), tf.ones(x.shape)),
            size,
          ),
      };
    }
    return {
      x: () =>
        tf.broadcastTo(
          tf.div(tf.reshape(dy as tf.Tensor, keptShape), size),
          x.shape,
        ),
    };
  },
};

/**
 * The gradient of `Sum` without tfjs's `ones(x.shape)` (a full-size upload
 * per call on WebGPU, as for `Mean`): `dy` broadcast back over the summed
 * axes, the same values.
 */
export const sumGradient: tf.GradConfig = {
  kernelName: "Sum",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as { axis: number | number[] };
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const keptShape = x.shape.map((d, a) => axes.includes(a) ? 1 : d);
    const spread = spreadGradient(dy as tf.Tensor, x, axes, 1);
    if (spread) return spread;
    if (tf.getBackend() !== "webgpu") {
      // as for Mean: tfjs's formulation, since broadcastTo is slow on wasm
      return {
        x: () =>
          tf.mul(tf.reshape(dy as tf.Tensor, keptShape), tf.ones(x.shape)),
      };
    }
    return {
      x: () => tf.broadcastTo(tf.reshape(dy as tf.Tensor, keptShape), x.shape),
    };
  },
};

let registered = false;

/**
 * Replaces tfjs's `Mean` and `Sum` gradients by {@linkcode meanGradient} and
 * {@linkcode sumGradient}; idempotent.
 */
export function registerReductionGradients(): void {
  if (registered) return;
  registered = true;
  // tfjs warns on replacing a gradient; the replacement is deliberate
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.registerGradient(meanGradient);
    tf.registerGradient(sumGradient);
  } finally {
    console.warn = warn;
  }
}
