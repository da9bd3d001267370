/**
 * The TensorFlow.js types this package's API takes and returns, as named
 * aliases of tfjs's own (`@tensorflow/tfjs`): the same types, so a
 * `tf.Tensor4D` is a {@linkcode Tensor4D} and back, documented with the
 * package.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** A rank-1 tfjs tensor (`tf.Tensor1D`), e.g. labels `[batch]`. */
export type Tensor1D = tf.Tensor1D;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), e.g. NHWC images `[batch, height, width, channels]`. */
export type Tensor4D = tf.Tensor4D;
