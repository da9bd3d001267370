import * as tf from "@tensorflow/tfjs";
import type { LayersModel, Tensor2D, Tensor4D } from "./tf_types.ts";

/**
 * Logits of every head for normalised input `[N, H, W, C]`: one tensor for a
 * teacher, `1 + T` for the student (class head first). The caller disposes them.
 */
export function predictLogitsPerHead(
  model: LayersModel,
  x: Tensor4D,
): Tensor2D[] {
  const out = model.predict(x);
  return (Array.isArray(out) ? out : [out]) as tf.Tensor2D[];
}

/** Class probabilities `[N, classes]`: the mean over the heads of each head's softmax. */
export function predictProbabilities(
  model: LayersModel,
  x: Tensor4D,
): Tensor2D {
  return tf.tidy(() => {
    const heads = predictLogitsPerHead(model, x).map((logits) =>
      tf.softmax(logits)
    );
    return (heads.length === 1
      ? heads[0]
      : tf.div(tf.addN(heads), heads.length)) as tf.Tensor2D;
  });
}
