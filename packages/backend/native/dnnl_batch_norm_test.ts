// The training batch norm's oneDNN path (forward with and without the
// fused ReLU, and the gradient) against tfjs' composition on the cpu
// backend, and that it is the path taken. Skipped, with the reason, where
// libdnnl (Debian: libdnnl2) is absent; the loops it replaces are tested
// against the same reference in cnn_kernels_test.ts.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import {
  assertAllClose,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import { fusedBatchNormTraining } from "../cnn_kernels/ops.ts";
import { registerCnnKernels } from "../cnn_kernels/register.ts";
import { activeDnnlBatchNorm, batchNormDims } from "./_dnnl_batch_norm.ts";
import { activeDnnlRows } from "./_dnnl_rows.ts";
import {
  disableNativeKernels,
  enableNativeKernels,
  loadNativeBlas,
  loadNativeDnnl,
} from "./register.ts";

registerCnnKernels();
const { dnnl, status } = loadNativeDnnl();
const ignore = !dnnl;
if (ignore) console.warn(`oneDNN batch norm tests skipped: ${status.reason}`);

const EPSILON = 1e-3;

function referenceBatchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  relu: boolean,
): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.batchNorm(x, mean, variance, beta, gamma, EPSILON);
  return relu ? tf.relu(y) : y;
}

// Below the one-thread threshold (65,536 elements) and above it; an image
// batch and other ranks.
const SHAPES = [[7, 5], [4, 6, 5, 16], [16, 16, 16, 32], [3000, 24]];

Deno.test({
  name:
    "oneDNN batch norm (values, statistics and gradients, with and without relu) = cpu; it is the path taken",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      for (const shape of SHAPES) {
        const c = shape.at(-1)!;
        // offset from 0, so that the mean must be subtracted
        const xs = seeded(shape, 51, 3);
        const gs = seeded([c], 52, 1.5);
        const bs = seeded([c], 53);
        const probe = seeded(shape, 54);
        for (const relu of [false, true]) {
          const run = (fused: boolean) => () => {
            const [x, g, b, p] = [xs, gs, bs, probe].map(toTensor);
            const shifted = tf.add(x, 2);
            const bn = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
              fused
                ? fusedBatchNormTraining(a, gg, bb, EPSILON, relu).y
                : referenceBatchNorm(a, gg, bb, relu);
            const axes = shape.slice(0, -1).map((_, i) => i);
            const moments = fused
              ? fusedBatchNormTraining(shifted, g, b, EPSILON, relu)
              : tf.moments(shifted, axes);
            return [
              bn(shifted, g, b),
              moments.mean,
              moments.variance,
              ...tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
                tf.sum(tf.mul(bn(a, gg, bb), p))
              )([shifted, g, b]),
            ];
          };
          const expected = await onBackend("cpu", run(false));
          const actual = await onBackend("wasm", run(true));
          ["y", "mean", "variance", "dx", "dgamma", "dbeta"].forEach(
            (label, i) =>
              assertAllClose(
                actual[i],
                expected[i],
                { rtol: 2e-4, atol: 2e-4 },
                `${label} [${shape}]${relu ? " + relu" : ""}`,
              ),
          );
        }
        // A jit kernel ran, or oneDNN had only its reference one and the
        // loops ran instead; the shapes of the models take the jit ones.
        const made = activeDnnlBatchNorm()!.report();
        const entry = (kind: string) =>
          made.find(([key]) =>
            key.startsWith(`${kind},${batchNormDims(shape)},`)
          )?.[1];
        const taken = (kind: string) => entry(kind)?.includes("jit") === true;
        for (
          const kind of ["forward", "forwardRelu", "backward", "backwardRelu"]
        ) {
          assert(
            taken(kind) || entry(kind)?.startsWith("refused"),
            `oneDNN batch norm ${kind} for [${shape}]: ${entry(kind)}`,
          );
        }
        if (shape.at(-1) === 32 || shape.at(-1) === 4) {
          assert(taken("forward") && taken("backward"), `[${shape}]: ${made}`);
        }
        // the fused ReLU's gradient reads the forward's mask
        if (shape.at(-1) === 32) {
          assert(
            taken("forwardRelu") && taken("backwardRelu"),
            `${made}`,
          );
        }
        if (shape.at(-1) === 4) {
          // fused only in the reference kernel: forward, then a ReLU pass
          assert(!taken("forwardRelu"), `${made}`);
        }
      }
      // where the fused ReLU was refused (5 channels), the ReLU's gradient
      // masked by oneDNN's ReLU backward
      const masks = activeDnnlRows()!.report().filter(([key]) =>
        key.startsWith("reluMask,")
      );
      assert(
        masks.length > 0 &&
          masks.every(([, impl]) => !impl.startsWith("refused")),
        `reluMask: ${masks}`,
      );
    } finally {
      disableNativeKernels();
    }
    assertEquals(activeDnnlBatchNorm(), undefined);
  },
});

Deno.test("batchNormDims: every rank as one image of rows x 1 pixels", () => {
  assertEquals(batchNormDims([64, 32, 16, 8]), [1, 8, 64 * 32 * 16, 1]);
  assertEquals(batchNormDims([7, 5]), [1, 5, 7, 1]);
  assertEquals(batchNormDims([2, 3, 4]), [1, 4, 6, 1]);
  assertEquals(batchNormDims([9]), [1, 9, 1, 1]);
});
