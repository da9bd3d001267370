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
/** Tensors by name (`tf.NamedTensorMap`), as `tf.variableGrads` returns gradients. */
export type NamedTensorMap = tf.NamedTensorMap;
/** A rank-0 tfjs tensor (`tf.Scalar`), e.g. a loss. */
export type Scalar = tf.Scalar;
/** A tfjs tensor of any rank (`tf.Tensor`). */
export type Tensor = tf.Tensor;
/** A rank-1 tfjs tensor (`tf.Tensor1D`), e.g. labels `[batch]`. */
export type Tensor1D = tf.Tensor1D;
/** A rank-2 tfjs tensor (`tf.Tensor2D`), e.g. logits `[batch, classes]`. */
export type Tensor2D = tf.Tensor2D;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), e.g. NHWC images `[batch, height, width, channels]`. */
export type Tensor4D = tf.Tensor4D;
/** A trainable tfjs variable (`tf.Variable`). */
export type Variable = tf.Variable;
