// The residual block's end as one oneDNN primitive (VitkdConv2DAddRelu)
// against tfjs' conv2d + add + relu on the cpu backend, and that oneDNN, not
// the fallback, ran it. Skipped, with the reason, where libdnnl (Debian:
// libdnnl2) is absent; without it conv2dAddRelu composes stock ops (tested
// in cnn_kernels/conv_add_relu_test.ts).
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  assertAllClose,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import {
  conv2dAddRelu,
  type Conv2dAddReluOptions,
  hasConv2dAddRelu,
} from "../cnn_kernels/conv_add_relu.ts";
import {
  disableNativeKernels,
  dnnlConvChoices,
  enableNativeKernels,
  loadNativeBlas,
  loadNativeDnnl,
} from "./register.ts";

const { dnnl, status } = loadNativeDnnl();
const ignore = !dnnl;
if (ignore) {
  console.warn(`oneDNN conv + add + relu tests skipped: ${status.reason}`);
}

// [x shape, filter shape, options]: a ResNet block's 3x3, a strided one
// onto more channels, a 1x1 without padding.
const CASES: [number[], number[], Conv2dAddReluOptions][] = [
  [[2, 8, 8, 16], [3, 3, 16, 16], { strides: 1, pad: "same" }],
  [[2, 9, 9, 8], [3, 3, 8, 16], { strides: 2, pad: "same" }],
  [[3, 6, 6, 4], [1, 1, 4, 8], { strides: 1, pad: "valid" }],
];

Deno.test({
  name:
    "oneDNN conv2d + bias + residual + relu in one primitive = cpu's conv2d, add and relu; oneDNN ran it",
  ignore,
  async fn() {
    for (const [xShape, fShape, options] of CASES) {
      const out = tf.backend_util.computeConv2DInfo(
        xShape as [number, number, number, number],
        fShape as [number, number, number, number],
        options.strides,
        1,
        options.pad,
      ).outShape;
      const [xs, fs, bs, rs] = [xShape, fShape, [fShape[3]], out].map((
        shape,
        i,
      ) => seeded(shape, 301 + i));
      const run = (fused: boolean) => () => {
        const [x, f, b, r] = [xs, fs, bs, rs].map(toTensor) as [
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor1D,
          tf.Tensor4D,
        ];
        return fused ? conv2dAddRelu(x, f, b, r, options) : tf.relu(
          tf.add(tf.add(tf.conv2d(x, f, options.strides, options.pad), b), r),
        );
      };
      const expected = await onBackend("cpu", run(false));
      await tf.setBackend("wasm");
      enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
      try {
        assert(hasConv2dAddRelu(), "the kernel is registered on wasm");
        const [actual] = await onBackend("wasm", run(true));
        assertAllClose(
          actual,
          expected[0],
          { rtol: 1e-5, atol: 1e-5 },
          `[${xShape}] * [${fShape}]`,
        );
        const made = dnnlConvChoices(dnnl!).filter(([key]) =>
          key.startsWith(`forward,${xShape[0]},${xShape[1]},${xShape[2]},`) &&
          key.endsWith(",relu:,residual")
        );
        assertEquals(made.length, 1, `one residual primitive: ${made}`);
        assert(!made[0][1].startsWith("refused"), made[0][1]);
      } finally {
        disableNativeKernels();
      }
      assert(!hasConv2dAddRelu(), "disabling the native path removes it");
    }
  },
});

Deno.test({
  name:
    "oneDNN conv2d + add + relu: a residual or bias of the wrong shape is named",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
      const f = tf.zeros([3, 3, 2, 3]) as tf.Tensor4D;
      assertThrows(
        () =>
          conv2dAddRelu(x, f, tf.zeros([3]), tf.zeros([1, 4, 4, 2]), {
            strides: 1,
            pad: "same",
          }),
        Error,
        "residual has shape [1,4,4,2], the convolution gives [1,4,4,3]",
      );
      assertThrows(
        () =>
          conv2dAddRelu(x, f, tf.zeros([2]), tf.zeros([1, 4, 4, 3]), {
            strides: 1,
            pad: "same",
          }),
        Error,
        "bias must have shape [3], got [2]",
      );
    } finally {
      disableNativeKernels();
    }
  },
});
