/**
 * The TensorFlow.js types this package's API takes and returns, as named
 * aliases of tfjs's own (`@tensorflow/tfjs`): the same types, so a
 * `tf.Tensor4D` is a {@linkcode Tensor4D} and back, documented with the
 * package.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** A tfjs gradient registration for a kernel (`tf.GradConfig`). */
export type GradConfig = tf.GradConfig;
/** A tfjs kernel registration: kernel name, backend name and implementation (`tf.KernelConfig`). */
export type KernelConfig = tf.KernelConfig;
/** A rank-0 tfjs tensor (`tf.Scalar`), e.g. a loss. */
export type Scalar = tf.Scalar;
/** A tfjs tensor of any rank (`tf.Tensor`). */
export type Tensor = tf.Tensor;
/** A rank-1 tfjs tensor (`tf.Tensor1D`), e.g. labels `[batch]`. */
export type Tensor1D = tf.Tensor1D;
/** A rank-2 tfjs tensor (`tf.Tensor2D`), e.g. logits `[batch, classes]`. */
export type Tensor2D = tf.Tensor2D;
/** A rank-3 tfjs tensor (`tf.Tensor3D`), e.g. tokens `[batch, tokens, dim]`. */
export type Tensor3D = tf.Tensor3D;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), e.g. NHWC images `[batch, height, width, channels]`. */
export type Tensor4D = tf.Tensor4D;
/** A backend's handle on a tensor's data, shape and dtype (`tf.TensorInfo`), as kernels see it. */
export type TensorInfo = tf.TensorInfo;
