/**
 * The TensorFlow.js types this package's API takes and returns, as named
 * aliases of tfjs's own (`@tensorflow/tfjs`): the same types, so a
 * `tf.Tensor4D` is a {@linkcode Tensor4D} and back, documented with the
 * package.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** A tfjs Layers model (`tf.LayersModel`). */
export type LayersModel = tf.LayersModel;
/** A rank-2 tfjs tensor (`tf.Tensor2D`), e.g. logits `[batch, classes]`. */
export type Tensor2D = tf.Tensor2D;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), e.g. NHWC images `[batch, height, width, channels]`. */
export type Tensor4D = tf.Tensor4D;
