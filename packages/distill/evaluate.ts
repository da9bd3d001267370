import * as tf from "@tensorflow/tfjs";
import { headsOf } from "./step.ts";
import type { LayersModel, Tensor1D, Tensor4D } from "./tf_types.ts";

/** Accuracy of a model on labelled data. */
export interface EvaluationResult {
  /** Images evaluated. */
  count: number;
  /** Accuracy of each head (class head first); one entry for a teacher. */
  heads: number[];
  /** Accuracy of the mean of the heads' softmax (equals `heads[0]` for one head). */
  averaged: number;
}

/** A batch to evaluate: normalised x and integer labels (not disposed here). */
export interface EvaluationBatch {
  /** Normalised images [B, H, W, C]. */
  x: Tensor4D;
  /** Integer labels [B]. */
  y: Tensor1D;
}

/**
 * Accuracy of each head and of the averaged heads over `batches`, in
 * inference mode. The caller keeps ownership of the batches' tensors.
 */
export async function evaluateBatches(
  model: LayersModel,
  batches: Iterable<EvaluationBatch> | AsyncIterable<EvaluationBatch>,
): Promise<EvaluationResult> {
  let count = 0;
  let headCorrect: number[] = [];
  let averagedCorrect = 0;
  for await (const batch of batches) {
    const counts = tf.tidy(() => {
      const heads = headsOf(model.predict(batch.x) as tf.Tensor);
      const labels = tf.cast(batch.y, "int32");
      const hit = (logits: tf.Tensor2D): tf.Tensor =>
        tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "int32"));
      const perHead = heads.map(hit);
      const averaged = hit(
        tf.addN(heads.map((h) => tf.softmax(h))) as tf.Tensor2D,
      );
      return tf.stack([...perHead, averaged]);
    });
    const values = Array.from(await counts.data());
    counts.dispose();
    if (headCorrect.length === 0) {
      headCorrect = new Array(values.length - 1).fill(0);
    }
    values.slice(0, -1).forEach((v, i) => headCorrect[i] += v);
    averagedCorrect += values[values.length - 1];
    count += batch.x.shape[0];
  }
  if (count === 0) throw new Error("evaluate: no images to evaluate");
  return {
    count,
    heads: headCorrect.map((c) => c / count),
    averaged: averagedCorrect / count,
  };
}
