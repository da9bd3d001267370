// The fused ViT kernels' oneDNN paths (GELU and its slope, softmax, layer
// norm) against
// the cpu backend, and that they are the ones taken. Skipped, with the
// reason, where libdnnl (Debian: libdnnl2) is absent.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import {
  assertAllClose,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import {
  fusedGelu,
  fusedLayerNorm,
  fusedSoftmax,
  tokensToHeads,
} from "../fused/ops.ts";
import { registerFusedKernels } from "../fused/register.ts";
import { fusedAddRelu } from "../webgpu/add_relu.ts";
import { activeDnnlRows } from "./_dnnl_rows.ts";
import {
  disableNativeKernels,
  enableNativeKernels,
  loadNativeBlas,
  loadNativeDnnl,
} from "./register.ts";

registerFusedKernels();
const { dnnl, status } = loadNativeDnnl();
const ignore = !dnnl;
if (ignore) console.warn(`oneDNN row-op tests skipped: ${status.reason}`);

const gelu = (a: tf.Tensor) =>
  tf.mul(a, tf.mul(0.5, tf.add(1, tf.erf(tf.div(a, Math.SQRT2)))));
const EPSILON = 1e-6;
function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(
    tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPSILON))), gamma),
    beta,
  );
}

// Both sizes: below the one-thread threshold (65,536) and above it.
const SHAPES = [[5, 37], [4, 67, 300]];

Deno.test({
  name:
    "oneDNN GELU, softmax and layer norm (values and gradients) = cpu; they are the paths taken",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      for (const shape of SHAPES) {
        const width = shape.at(-1)!;
        const x = seeded(shape, 31, 6);
        const probe = seeded(shape, 32);
        const gammaBeta = [seeded([width], 33, 1.5), seeded([width], 34)];
        const compute = (
          g: (t: tf.Tensor) => tf.Tensor,
          gt: (t: tf.Tensor) => tf.Tensor,
          s: (t: tf.Tensor) => tf.Tensor,
          n: typeof layerNorm,
        ) =>
        () => {
          const [a, p, gamma, beta] = [x, probe, ...gammaBeta].map(toTensor);
          return [
            g(a),
            // training: the value and the gradient through the kept slope
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gt(t), p)))(a),
            s(a),
            // large logits: the row max must be subtracted
            s(tf.mul(a, 10)),
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(s(t), p)))(a),
            // rows offset from 0: the mean must be subtracted
            n(tf.add(a, 3), gamma, beta),
            ...tf.grads((t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.mul(n(t, g, b), p))
            )([a, gamma, beta]),
          ];
        };
        const expected = await onBackend(
          "cpu",
          compute(gelu, gelu, tf.softmax, layerNorm),
        );
        const actual = await onBackend(
          "wasm",
          compute(
            (a) => fusedGelu(a, { training: false }),
            (a) => fusedGelu(a, { training: true }),
            fusedSoftmax,
            (a, g, b) => fusedLayerNorm(a, g, b, EPSILON),
          ),
        );
        const labels = [
          "gelu",
          "gelu gradient",
          "softmax",
          "softmax x10",
          "softmax gradient",
          "layer norm",
          "layer norm dx",
          "layer norm dgamma",
          "layer norm dbeta",
        ];
        expected.forEach((e, i) =>
          assertAllClose(
            actual[i],
            e,
            i >= 6 ? { rtol: 1e-4, atol: 1e-4 } : { rtol: 1e-5, atol: 1e-5 },
            `${labels[i]} [${shape}]`,
          )
        );
        const made = activeDnnlRows()!.report();
        const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        for (
          const kind of [
            "gelu",
            "geluSlope",
            "softmax",
            "layerNorm",
          ]
        ) {
          const entry = made.find(([key]) =>
            key.startsWith(`${kind},${rows},${width}`)
          );
          assert(
            entry !== undefined && !entry[1].startsWith("refused"),
            `oneDNN ${kind} for [${shape}]: ${entry?.[1]} (made: ${made})`,
          );
        }
      }
    } finally {
      disableNativeKernels();
    }
    assertEquals(activeDnnlRows(), undefined);
  },
});

// The stock layout change: slice part, [N, L, H, d] -> [N, H, L, d], part 0
// scaled; and back.
function referenceHeads(x: tf.Tensor, heads: number, scale: number) {
  const [n, length, width] = x.shape;
  const dim = width / 3;
  return [0, 1, 2].map((p) => {
    const part = tf.slice(x, [0, 0, p * dim], [n, length, dim]);
    const moved = tf.reshape(
      tf.transpose(tf.reshape(part, [n, length, heads, dim / heads]), [
        0,
        2,
        1,
        3,
      ]),
      [n * heads, length, dim / heads],
    );
    return p === 0 ? tf.mul(moved, scale) : moved;
  });
}

Deno.test({
  name:
    "oneDNN reorders between the token and head layouts = slice + transpose on cpu, both ways",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      const [n, length, heads, headDim] = [3, 7, 4, 8];
      const x = seeded([n, length, 3 * heads * headDim], 41);
      const probes = [42, 43, 44].map((s) =>
        seeded([n * heads, length, headDim], s)
      );
      const compute = (
        split: (t: tf.Tensor) => tf.Tensor[],
      ) =>
      () => {
        const [a, ...ps] = [x, ...probes].map(toTensor);
        const parts = split(a);
        // the gradient of tokensToHeads is headsToTokens (with the scale)
        const loss = (t: tf.Tensor) =>
          tf.addN(split(t).map((q, i) => tf.sum(tf.mul(q, ps[i]))));
        return [...parts, tf.grad(loss)(a)];
      };
      const expected = await onBackend(
        "cpu",
        compute((a) => referenceHeads(a, heads, 0.25)),
      );
      const actual = await onBackend(
        "wasm",
        compute((a) => tokensToHeads(a as tf.Tensor3D, heads, 3, 0.25)),
      );
      expected.forEach((e, i) =>
        assertAllClose(actual[i], e, { rtol: 1e-6, atol: 1e-6 }, `output ${i}`)
      );
      const made = activeDnnlRows()!.report().filter(([key]) =>
        key.startsWith("heads,")
      );
      // both directions, each made by oneDNN
      assertEquals(made.length, 2, `${made}`);
      for (const [key, impl] of made) {
        assert(!impl.startsWith("refused"), `${key}: ${impl}`);
      }
    } finally {
      disableNativeKernels();
    }
  },
});

Deno.test({
  name:
    "oneDNN Add, relu(a + b) and its gradient = cpu; broadcasts and small sums stay on wasm's kernels",
  ignore,
  async fn() {
    const big = [4, 130, 128]; // 66,560 values: oneDNN's add
    const compute = (fused: boolean) => () => {
      const [a, b, p] = [seeded(big, 61), seeded(big, 62), seeded(big, 63)]
        .map(toTensor);
      const small = toTensor(seeded([3, 5], 64));
      const addRelu = (x: tf.Tensor, y: tf.Tensor) =>
        fused ? fusedAddRelu(x, y) : tf.relu(tf.add(x, y));
      return [
        tf.add(a, b),
        tf.add(small, small),
        tf.add(a, toTensor(seeded([128], 65))), // broadcast
        addRelu(a, b),
        ...tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf.sum(tf.mul(addRelu(x, y), p))
        )([a, b]),
      ];
    };
    const expected = await onBackend("cpu", compute(false));
    await tf.setBackend("wasm");
    enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
    try {
      const actual = await onBackend("wasm", compute(true));
      ["a + b", "small", "broadcast", "relu(a + b)", "da", "db"].forEach((
        label,
        i,
      ) =>
        assertAllClose(actual[i], expected[i], {
          rtol: 1e-6,
          atol: 1e-6,
        }, label)
      );
      const made = activeDnnlRows()!.report().map(([key, impl]) =>
        `${key} ${impl}`
      );
      for (const kind of ["add", "addRelu", "reluMask"]) {
        assert(
          made.some((m) => m.startsWith(`${kind},520,128 `)) &&
            !made.some((m) =>
              m.startsWith(`${kind},`) && m.includes("refused")
            ),
          `${kind}: ${made}`,
        );
      }
      assert(!made.some((m) => m.startsWith("add,3,5")), "small sums stay");
    } finally {
      disableNativeKernels();
    }
  },
});
