// Helpers shared by the custom layers of vit_layers.ts and
// patch_embedding.ts (private to the package).
import type * as tf from "@tensorflow/tfjs";

export type LayerArgs = NonNullable<
  ConstructorParameters<typeof tf.layers.Layer>[0]
>;
/**
 * A tfjs weight initializer, as the `tf.initializers.*` functions return
 * them (tfjs does not export the class's type).
 *
 * @internal
 */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;

export function shapeOf(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(inputShape[0])
    ? inputShape[0]
    : inputShape) as tf.Shape;
}

export function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}
