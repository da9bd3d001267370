import * as tf from "@tensorflow/tfjs";
import { fusedAddRelu } from "@vitkd/backend";
import type { LayerArgs } from "./_layer_util.ts";
import { type ConfigDict, Layer, type Shape, type Tensor } from "./tf_types.ts";

/** Options of {@linkcode AddRelu}. */
export interface AddReluArgs {
  /** Layer name. */
  name?: string;
}

/**
 * `relu(a + b)` of two inputs of one shape: the end of a residual block, as
 * `tf.layers.add` followed by `tf.layers.reLU` compute it, as one kernel
 * each way where the backend has it (WebGPU: one dispatch forward and one
 * backward, where the two layers take two each way).
 */
export class AddRelu extends Layer {
  /** The name tfjs serialisation knows this class by. */
  static className = "VitkdAddRelu";

  /** Creates the layer. */
  constructor(args: AddReluArgs = {}) {
    super({ name: args.name } as LayerArgs);
  }

  /** The output shape: the inputs' shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = inputShape as Shape[];
    if (
      !Array.isArray(shapes[0]) || shapes.length !== 2 ||
      shapes[0].join(",") !== shapes[1].join(",")
    ) {
      throw new Error(
        `AddRelu: expects two inputs of one shape, got ${
          JSON.stringify(inputShape)
        }`,
      );
    }
    return shapes[0];
  }

  /** `relu(a + b)`. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    const [a, b] = inputs as Tensor[];
    return fusedAddRelu(a, b);
  }

  /** The constructor arguments, for serialisation. */
  override getConfig(): ConfigDict {
    return super.getConfig();
  }
}
tf.serialization.registerClass(AddRelu);
