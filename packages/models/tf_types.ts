/**
 * The TensorFlow.js types this package's API takes and returns, as named
 * aliases of tfjs's own (`@tensorflow/tfjs`): the same types, so a
 * `tf.Tensor4D` is a {@linkcode Tensor4D} and back, documented with the
 * package.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** A layer's serialisable configuration (`tf.serialization.ConfigDict`). */
export type ConfigDict = tf.serialization.ConfigDict;
/** Where a tfjs model is saved to or loaded from (`tf.io.IOHandler`). */
export type IOHandler = tf.io.IOHandler;
/** The base class of tfjs layers (`tf.layers.Layer`). */
export type Layer = tf.layers.Layer;
/**
 * The base class of tfjs layers (`tf.layers.Layer`) as a value, for
 * `class MyLayer extends Layer`; the same class as `tf.layers.Layer`.
 */
export const Layer: LayerClass = tf.layers.Layer;
/**
 * The constructor type of {@linkcode Layer}.
 * @internal
 */
type LayerClass = typeof tf.layers.Layer;
/** A weight of a tfjs layer (`tf.LayerVariable`). */
export type LayerVariable = tf.LayerVariable;
/** A tfjs Layers model (`tf.LayersModel`). */
export type LayersModel = tf.LayersModel;
/** A layer's input or output shape, `null` for the batch axis (`tf.Shape`). */
export type Shape = tf.Shape;
/** A placeholder tensor of a tfjs Layers graph (`tf.SymbolicTensor`). */
export type SymbolicTensor = tf.SymbolicTensor;
/** A tfjs tensor of any rank (`tf.Tensor`). */
export type Tensor = tf.Tensor;
/** A rank-2 tfjs tensor (`tf.Tensor2D`), e.g. logits `[batch, classes]`. */
export type Tensor2D = tf.Tensor2D;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), e.g. NHWC images `[batch, height, width, channels]`. */
export type Tensor4D = tf.Tensor4D;
