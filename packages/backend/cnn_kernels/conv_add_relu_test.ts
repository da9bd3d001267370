import * as tf from "@tensorflow/tfjs";
import { assert, assertThrows } from "@std/assert";
import {
  assertAllClose,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import { conv2dAddRelu, hasConv2dAddRelu } from "./conv_add_relu.ts";

Deno.test("conv2dAddRelu without the kernel composes conv2d, add and relu; shapes are checked", async () => {
  await tf.setBackend("cpu");
  assert(!hasConv2dAddRelu(), "cpu has no such kernel");
  const [x, f, b, r] = [[2, 5, 5, 3], [3, 3, 3, 4], [4], [2, 3, 3, 4]].map((
    shape,
    i,
  ) => toTensor(seeded(shape, 11 + i))) as [
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor4D,
  ];
  const y = conv2dAddRelu(x, f, b, r, { strides: 2, pad: "same" });
  const expected = tf.relu(tf.add(tf.add(tf.conv2d(x, f, 2, "same"), b), r));
  assertAllClose(
    { shape: y.shape, values: await y.data() as Float32Array },
    { shape: expected.shape, values: await expected.data() as Float32Array },
    { rtol: 1e-6, atol: 1e-6 },
    "composed",
  );
  assertThrows(
    () => conv2dAddRelu(x, f, b, x, { strides: 2, pad: "same" }),
    Error,
    "residual has shape [2,5,5,3], the convolution gives [2,3,3,4]",
  );
  tf.dispose([x, f, b, r, y, expected]);
});
