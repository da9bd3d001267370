// A residual block's end, relu(a + b), as one WebGPU dispatch each way. The
// composition takes an Add and a Relu forward, and tfjs's Relu gradient a
// Step and a Multiply backward (the Add's gradient passes dy through).
import * as tf from "@tensorflow/tfjs";
import {
  dispatch,
  groupsFor,
  perIndex,
  requireFloat,
  sizeOf,
  webgpuConfig,
  words,
} from "./_vit_dispatch.ts";
import type { Tensor } from "../tf_types.ts";

/** Kernel: `max(a + b, 0)` of two float32 tensors of one shape. */
export const ADD_RELU = "VitkdAddRelu";
/** Kernel: the gradient of {@linkcode ADD_RELU}, `dy` where `y > 0`, else 0. */
export const RELU_GRAD = "VitkdReluGrad";

// The same operations as the composition (tfjs's relu of a sum is
// max(a + b, 0)).
const FORWARD = perIndex(
  ["a", "b"],
  ["y"],
  "",
  "y[i] = max(a[i] + b[i], 0.0);",
);

// tfjs's Relu gradient is dy · step(x), x > 0 exactly where y = relu(x) > 0.
const BACKWARD = perIndex(
  ["dy", "y"],
  ["dx"],
  "",
  "dx[i] = select(0.0, dy[i], y[i] > 0.0);",
);

/** A kernel of one output from two float32 inputs of one shape. */
function elementwiseKernel(
  kernelName: string,
  names: [string, string],
  code: string,
): tf.KernelConfig {
  return webgpuConfig(kernelName, (inputs, _attrs, backend) => {
    const [first, second] = names.map((n) => inputs[n]);
    requireFloat(kernelName, inputs);
    if (first.shape.join(",") !== second.shape.join(",")) {
      throw new Error(
        `${kernelName}: ${names[0]} [${first.shape}] and ${
          names[1]
        } [${second.shape}] differ in shape`,
      );
    }
    const size = sizeOf(first.shape);
    const out = backend.makeTensorInfo([...first.shape], "float32");
    if (size > 0) {
      dispatch(
        backend,
        kernelName,
        `vitkd-${kernelName}`,
        code,
        [first, second, out],
        words([[size, "u"]]),
        groupsFor(size),
      );
    }
    return out;
  });
}

/** {@linkcode ADD_RELU} and {@linkcode RELU_GRAD} on WebGPU, one dispatch each. */
export const ADD_RELU_KERNELS_WEBGPU: readonly tf.KernelConfig[] = [
  elementwiseKernel(ADD_RELU, ["a", "b"], FORWARD),
  elementwiseKernel(RELU_GRAD, ["dy", "y"], BACKWARD),
];

/** The gradient of {@linkcode ADD_RELU}: the masked dy, for both inputs. */
export const addReluGradient: tf.GradConfig = {
  kernelName: ADD_RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    const dx = tf.engine().runKernel(RELU_GRAD, {
      dy: dy as tf.Tensor,
      y,
    }) as tf.Tensor;
    // a tensor of its own for b (sharing dx's buffer): the engine disposes
    // an input's gradient when it adds another to it
    return { a: () => dx, b: () => tf.clone(dx) };
  },
};

/** Whether {@linkcode fusedAddRelu} is one kernel on the active backend. */
export function hasFusedAddRelu(): boolean {
  return tf.getKernel(ADD_RELU, tf.getBackend()) !== undefined;
}

/**
 * `relu(a + b)` for float32 tensors of one shape (a residual block's end):
 * one kernel each way where the backend has it (WebGPU), else `tf.relu` of
 * `tf.add`, as before. The same values either way.
 */
export function fusedAddRelu(a: Tensor, b: Tensor): Tensor {
  if (
    !hasFusedAddRelu() || a.dtype !== "float32" || b.dtype !== "float32" ||
    !tf.util.arraysEqual(a.shape, b.shape)
  ) {
    return tf.tidy(() => tf.relu(tf.add(a, b)));
  }
  return tf.engine().runKernel(ADD_RELU, { a, b }) as tf.Tensor;
}
