import * as tf from "@tensorflow/tfjs";
import { LAYER_NORM, LAYER_NORM_GRAD } from "./layer_norm_kernels.ts";
import {
  GELU,
  GELU_GRAD,
  SOFTMAX,
  SOFTMAX_GRAD,
} from "./softmax_gelu_kernels.ts";
import {
  HEADS_TO_TOKENS,
  PAD_TOKENS,
  SLICE_TOKENS,
  TOKENS_TO_HEADS,
} from "./token_kernels.ts";
import type { GradConfig, Tensor, Tensor3D } from "../tf_types.ts";
import { ADAMW_STEP, type AdamWStepConstants } from "./adamw_kernel.ts";

function run(
  kernel: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap = {},
): tf.Tensor | tf.Tensor[] {
  return tf.engine().runKernel(kernel, inputs, attrs) as
    | tf.Tensor
    | tf.Tensor[];
}

function one(t: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(t) ? t[0] : t;
}

function many(t: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(t) ? t : [t];
}

/** Whether the fused ViT kernels run on the current backend (wasm or webgpu, registered by `initBackend`). */
export function fusedKernelsActive(): boolean {
  return tf.getKernel(LAYER_NORM, tf.getBackend()) !== undefined;
}

function requireActive(op: string): void {
  if (!fusedKernelsActive()) {
    throw new Error(
      `${op}: the fused kernels run on wasm or webgpu after initBackend (backend is ${tf.getBackend()})`,
    );
  }
}

/** Layer norm over the last axis (`(x - mean) / sqrt(var + epsilon) * gamma + beta`), one kernel each way. */
export function fusedLayerNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
): Tensor {
  requireActive("fusedLayerNorm");
  return many(run(LAYER_NORM, { x, gamma, beta }, { epsilon }))[0];
}

/** Softmax over the last axis, one kernel each way. */
export function fusedSoftmax<T extends Tensor>(x: T): T {
  requireActive("fusedSoftmax");
  return one(run(SOFTMAX, { x })) as T;
}

/**
 * Exact GELU `x * Φ(x)` (erf form, as `tf.layers` "gelu"), one kernel each
 * way. The forward kernel keeps the slope for the gradient; pass
 * `training: false` to skip that (a gradient then recomputes it).
 */
export function fusedGelu<T extends Tensor>(
  x: T,
  options: { training?: boolean } = {},
): T {
  requireActive("fusedGelu");
  if (options.training === false) {
    return many(run(GELU, { x }, { withSlope: false }))[0] as T;
  }
  return geluKeepingSlope(x) as T;
}

// Training GELU as a custom gradient with the one output y, the slope kept
// on the side: as a second kernel output without a gradient, the slope made
// tfjs build a zero tensor of its size in JavaScript and copy it into the
// backend at every backward pass (about 26 MB a vit-small step).
const geluKeepingSlope = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [y, slope] = many(run(GELU, { x }, { withSlope: true }));
    save([slope]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        one(run(GELU_GRAD, { dy: one(dy), slope: saved[0] })),
    };
  },
);

/**
 * Splits `[N, L, parts*D]` into `parts` head-major tensors `[N*heads, L, D/heads]`;
 * part 0 is multiplied by `scale` (the attention's 1/sqrt(d) on q).
 */
export function tokensToHeads(
  x: Tensor3D,
  heads: number,
  parts: number,
  scale = 1,
): Tensor3D[] {
  requireActive("tokensToHeads");
  return many(
    run(TOKENS_TO_HEADS, { x }, { heads, parts, scale }),
  ) as tf.Tensor3D[];
}

/** Joins head-major tensors `[N*heads, L, D/heads]` into `[N, L, parts*D]`; part 0 times `scale`. */
export function headsToTokens(
  parts: Tensor3D[],
  heads: number,
  scale = 1,
): Tensor3D {
  requireActive("headsToTokens");
  const inputs: tf.NamedTensorMap = {};
  parts.forEach((p, i) => inputs[`part${i}`] = p);
  return one(
    run(HEADS_TO_TOKENS, inputs, { heads, parts: parts.length, scale }),
  ) as tf.Tensor3D;
}

/** Tokens `[begin, begin + size)` of `x [N, L, D]`. */
export function sliceTokens(
  x: Tensor3D,
  begin: number,
  size: number,
): Tensor3D {
  requireActive("sliceTokens");
  return one(run(SLICE_TOKENS, { x }, { begin, size })) as tf.Tensor3D;
}

/** `x [N, size, D]` placed at token `begin` of zeros `[N, length, D]`. */
export function padTokens(
  x: Tensor3D,
  begin: number,
  length: number,
): Tensor3D {
  requireActive("padTokens");
  return one(run(PAD_TOKENS, { x }, { begin, length })) as tf.Tensor3D;
}

/** The gradients of the fused kernels, registered once with tfjs. */
export const FUSED_GRADIENTS: readonly GradConfig[] = [
  {
    kernelName: LAYER_NORM,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, true],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [x, gamma, mean, inverse] = saved;
      const dy = many(dys)[0];
      const [dx, dGamma, dBeta] = many(
        run(LAYER_NORM_GRAD, { dy, x, gamma, mean, inverse }),
      );
      return { x: () => dx, gamma: () => dGamma, beta: () => dBeta };
    },
  },
  {
    kernelName: SOFTMAX,
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
      x: () => one(run(SOFTMAX_GRAD, { dy: one(dy), y: saved[0] })),
    }),
  },
  {
    kernelName: GELU,
    inputsToSave: ["x"],
    outputsToSave: [false, true],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
      x: () => {
        const [x, kept] = saved;
        const slope = kept ?? many(run(GELU, { x }, { withSlope: true }))[1];
        return one(run(GELU_GRAD, { dy: many(dys)[0], slope }));
      },
    }),
  },
  {
    kernelName: TOKENS_TO_HEADS,
    gradFunc: (
      dys: tf.Tensor | tf.Tensor[],
      _saved: tf.Tensor[],
      attrs: tf.NamedAttrMap,
    ) => {
      const inputs: tf.NamedTensorMap = {};
      many(dys).forEach((d, i) => inputs[`part${i}`] = d);
      return {
        x: () =>
          one(run(HEADS_TO_TOKENS, inputs, {
            heads: attrs.heads,
            parts: attrs.parts,
            scale: attrs.scale,
          })),
      };
    },
  },
  {
    kernelName: HEADS_TO_TOKENS,
    gradFunc: (
      dy: tf.Tensor | tf.Tensor[],
      _saved: tf.Tensor[],
      attrs: tf.NamedAttrMap,
    ) => {
      const parts = many(run(TOKENS_TO_HEADS, { x: one(dy) }, {
        heads: attrs.heads,
        parts: attrs.parts,
        scale: attrs.scale,
      }));
      const grads: Record<string, () => tf.Tensor> = {};
      parts.forEach((p, i) => grads[`part${i}`] = () => p);
      return grads;
    },
  },
  {
    kernelName: SLICE_TOKENS,
    inputsToSave: ["x"],
    gradFunc: (
      dy: tf.Tensor | tf.Tensor[],
      saved: tf.Tensor[],
      attrs: tf.NamedAttrMap,
    ) => ({
      x: () =>
        one(
          run(PAD_TOKENS, { x: one(dy) }, {
            begin: attrs.begin,
            length: saved[0].shape[1] as number,
          }),
        ),
    }),
  },
  {
    kernelName: PAD_TOKENS,
    inputsToSave: ["x"],
    gradFunc: (
      dy: tf.Tensor | tf.Tensor[],
      saved: tf.Tensor[],
      attrs: tf.NamedAttrMap,
    ) => ({
      x: () =>
        one(
          run(SLICE_TOKENS, { x: one(dy) }, {
            begin: attrs.begin,
            size: saved[0].shape[1] as number,
          }),
        ),
    }),
  },
];

/** Whether {@linkcode fusedAdamWStep} runs on the current backend (wasm after `initBackend`). */
export function hasFusedAdamW(): boolean {
  return tf.getKernel(ADAMW_STEP, tf.getBackend()) !== undefined;
}

/**
 * One AdamW update of `param` as one kernel: returns the new value and the
 * new first and second moments (assign them; the inputs are unchanged).
 * `scale` (one value) multiplies the gradient first.
 *
 * @param param The variable's value.
 * @param grad Its gradient.
 * @param m Its first moment.
 * @param v Its second moment.
 * @param constants Learning rate, decays, bias corrections, epsilon, decay.
 * @param scale An optional gradient scale (a clip factor).
 * @returns `[param', m', v']`.
 */
export function fusedAdamWStep(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  constants: AdamWStepConstants,
  scale?: Tensor,
): [Tensor, Tensor, Tensor] {
  if (!hasFusedAdamW()) {
    throw new Error(
      `fusedAdamWStep: runs on wasm after initBackend (backend is ${tf.getBackend()})`,
    );
  }
  const inputs: tf.NamedTensorMap = { param, grad, m, v };
  if (scale) inputs.scale = scale;
  const [p, m1, v1] = many(
    run(ADAMW_STEP, inputs, { ...constants } as unknown as tf.NamedAttrMap),
  );
  return [p, m1, v1];
}
