import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { Involution } from "./involution.ts";

await initBackend({ backend: "cpu" });

function randomArray(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 * 2 - 1;
  }
  return out;
}

/** Plain-loop involution in inference mode, straight from the definition. */
function referenceInvolution(
  x: Float32Array,
  [n, h, w, c]: number[],
  layer: Involution,
  weights: Float32Array[],
): Float32Array {
  const [reduceK, gamma, beta, spanK, spanB, mMean, mVar] = weights;
  const k = layer.kernelSize, s = layer.strides, gc = layer.groupChannels;
  const g = c / gc, r = layer.reducedChannels, kk = k * k, p = (k - 1) / 2;
  const ho = Math.ceil(h / s), wo = Math.ceil(w / s);
  const at = (b: number, i: number, j: number, ch: number) =>
    i < 0 || j < 0 || i >= h || j >= w ? 0 : x[((b * h + i) * w + j) * c + ch];
  const out = new Float32Array(n * ho * wo * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        // average pool by s with "same" padding: mean over the valid cells
        const pooled = new Float64Array(c);
        for (let ch = 0; ch < c; ch++) {
          let sum = 0, count = 0;
          const top = 0, left = 0; // windows start at s·i; the last may be partial
          for (let a = 0; a < s; a++) {
            for (let e = 0; e < s; e++) {
              const ii = i * s + a - top, jj = j * s + e - left;
              if (ii >= 0 && jj >= 0 && ii < h && jj < w) {
                sum += at(b, ii, jj, ch);
                count++;
              }
            }
          }
          pooled[ch] = sum / count;
        }
        const hidden = new Float64Array(r);
        for (let q = 0; q < r; q++) {
          let acc = 0;
          for (let ch = 0; ch < c; ch++) {
            acc += pooled[ch] * reduceK[ch * r + q];
          }
          const bn =
            (acc - mMean[q]) / Math.sqrt(mVar[q] + layer.epsilon) * gamma[q] +
            beta[q];
          hidden[q] = Math.max(0, bn);
        }
        for (let u = 0; u < k; u++) {
          for (let v = 0; v < k; v++) {
            for (let grp = 0; grp < g; grp++) {
              const col = (u * k + v) * g + grp;
              let kernel = spanB[col];
              for (let q = 0; q < r; q++) {
                kernel += hidden[q] * spanK[q * kk * g + col];
              }
              for (let m = 0; m < gc; m++) {
                const ch = grp * gc + m;
                out[((b * ho + i) * wo + j) * c + ch] += kernel *
                  at(b, i * s + u - p, j * s + v - p, ch);
              }
            }
          }
        }
      }
    }
  }
  return out;
}

function weightIndex(layer: Involution, name: string): number {
  const index = layer.weights.findIndex((v) =>
    v.originalName.endsWith(`/${name}`)
  );
  assert(index >= 0, `weight ${name} exists`);
  return index;
}

function perturbStatistics(layer: Involution, seed: number): void {
  const varianceIndex = weightIndex(layer, "bn_moving_variance");
  const weights = layer.getWeights().map((t, i) => {
    const values = randomArray(t.size, seed + i);
    // keep the variances positive
    if (i === varianceIndex) {
      values.forEach((v, j) => values[j] = 0.5 + Math.abs(v));
    }
    return tf.tensor(values, t.shape);
  });
  layer.setWeights(weights);
  tf.dispose(weights);
}

const CASES = [
  { k: 3, s: 1, c: 8, gc: 4, h: 5, w: 6 },
  { k: 3, s: 2, c: 8, gc: 2, h: 7, w: 6 },
  { k: 5, s: 1, c: 6, gc: 6, h: 6, w: 5 },
  { k: 1, s: 1, c: 4, gc: 1, h: 3, w: 3 },
  { k: 7, s: 2, c: 4, gc: 2, h: 8, w: 8 },
  { k: 3, s: 3, c: 4, gc: 4, h: 7, w: 9 },
];

// "fused" is the wasm kernel (cnn_kernels in @vitkd/backend): same reference.
for (const aggregation of ["slices", "unfold", "fused"] as const) {
  Deno.test(`Involution (${aggregation}) forward equals the plain-loop reference`, async () => {
    if (aggregation === "fused") await initBackend({ backend: "wasm" });
    for (const [index, tc] of CASES.entries()) {
      const layer = new Involution({
        kernelSize: tc.k,
        strides: tc.s,
        groupChannels: tc.gc,
        reductionRatio: 2,
        seed: index,
        aggregation,
      });
      const shape = [2, tc.h, tc.w, tc.c];
      const values = randomArray(shape.reduce((a, b) => a * b), 100 + index);
      const x = tf.tensor4d(values, shape as [number, number, number, number]);
      layer.apply(x); // builds
      perturbStatistics(layer, 17 * index);
      const y = layer.apply(x, { training: false }) as tf.Tensor;
      const expected = referenceInvolution(
        values,
        shape,
        layer,
        [
          "reduce_kernel",
          "bn_gamma",
          "bn_beta",
          "span_kernel",
          "span_bias",
          "bn_moving_mean",
          "bn_moving_variance",
        ]
          .map((name) =>
            layer.getWeights()[weightIndex(layer, name)]
              .dataSync() as Float32Array
          ),
      );
      assertEquals(y.shape, layer.computeOutputShape(shape));
      const got = y.dataSync();
      let maxErr = 0;
      for (let i = 0; i < got.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(got[i] - expected[i]));
      }
      assert(maxErr < 1e-4, `case ${JSON.stringify(tc)}: max error ${maxErr}`);
      tf.dispose([x, y]);
      layer.dispose();
    }
    if (aggregation === "fused") await initBackend({ backend: "cpu" });
  });
}

Deno.test("Involution: aggregation fused without the backend kernel fails clearly, auto falls back", () => {
  const x = tf.ones([1, 4, 4, 4]) as tf.Tensor4D;
  const fused = new Involution({
    kernelSize: 3,
    groupChannels: 4,
    aggregation: "fused",
  });
  assertThrows(() => fused.apply(x), Error, 'backend "cpu" has none');
  const auto = new Involution({ kernelSize: 3, groupChannels: 4, seed: 1 });
  const y = auto.apply(x) as tf.Tensor;
  assertEquals(y.shape, [1, 4, 4, 4]);
  tf.dispose([x, y]);
});

Deno.test("Involution gradients match finite differences", () => {
  for (const tc of [CASES[0], CASES[1]]) {
    const layer = new Involution({
      kernelSize: tc.k,
      strides: tc.s,
      groupChannels: tc.gc,
      reductionRatio: 2,
      seed: 3,
    });
    const shape = [1, tc.h, tc.w, tc.c] as [number, number, number, number];
    const xValues = randomArray(shape.reduce((a, b) => a * b), 7);
    const x = tf.tensor4d(xValues, shape);
    layer.apply(x);
    perturbStatistics(layer, 5);
    const outShape = layer.computeOutputShape(shape) as number[];
    const probe = tf.tensor(
      randomArray(outShape.reduce((a, b) => a * b), 11),
      outShape,
    );
    const loss = (input: tf.Tensor) =>
      tf.sum(
        tf.mul(layer.apply(input, { training: false }) as tf.Tensor, probe),
      ) as tf.Scalar;
    const lossAt = (values: Float32Array) =>
      tf.tidy(() => loss(tf.tensor4d(values, shape)).dataSync()[0]);
    // input gradient
    const gradX = tf.grad(loss)(x).dataSync();
    const eps = 3e-3;
    for (let i = 0; i < xValues.length; i += 7) {
      const plus = xValues.slice(), minus = xValues.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const numeric = (lossAt(plus) - lossAt(minus)) / (2 * eps);
      assert(
        Math.abs(numeric - gradX[i]) < 2e-2 * Math.max(1, Math.abs(numeric)),
        `d/dx[${i}]: analytic ${gradX[i]} vs numeric ${numeric}`,
      );
    }
    // weight gradients (reduce kernel, span kernel, span bias)
    const variables = layer.trainableWeights.map((v) =>
      v.read() as tf.Variable
    );
    const { grads } = tf.variableGrads(() => loss(x), variables);
    for (
      const name of ["reduce_kernel", "span_kernel", "span_bias", "bn_gamma"]
    ) {
      const index = layer.weights.findIndex((v) =>
        v.originalName.endsWith(name)
      );
      const variable = layer.weights[index];
      const analytic = grads[(variable.read() as tf.Variable).name].dataSync();
      const base = variable.read().dataSync() as Float32Array;
      for (let i = 0; i < base.length; i += 5) {
        const numericAt = (delta: number) => {
          const changed = base.slice();
          changed[i] += delta;
          const t = tf.tensor(changed, variable.shape as number[]);
          variable.write(t);
          t.dispose();
          const value = tf.tidy(() => loss(x).dataSync()[0]);
          return value;
        };
        const numeric = (numericAt(eps) - numericAt(-eps)) / (2 * eps);
        const restore = tf.tensor(base, variable.shape as number[]);
        variable.write(restore);
        restore.dispose();
        assert(
          Math.abs(numeric - analytic[i]) <
            2e-2 * Math.max(1, Math.abs(numeric)),
          `d/d${name}[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`,
        );
      }
    }
    tf.dispose([x, probe, ...Object.values(grads)]);
    layer.dispose();
  }
});

Deno.test("Involution serialises and rejects bad shapes", () => {
  const input = tf.input({ shape: [6, 6, 8] });
  const layer = new Involution({ kernelSize: 3, groupChannels: 4, seed: 1 });
  const model = tf.model({
    inputs: input,
    outputs: layer.apply(input) as tf.SymbolicTensor,
  });
  const config = layer.getConfig();
  assertEquals(config.kernelSize, 3);
  assertEquals(config.groupChannels, 4);
  const clone =
    tf.serialization.SerializationMap.getMap().classNameMap["Involution"];
  assert(clone, "Involution is registered for deserialisation");
  const rebuilt = tf.models.modelFromJSON(
    { modelTopology: model.toJSON(null, false) } as tf.io.ModelJSON,
  );
  return rebuilt.then((m) => {
    assertEquals(m.layers[1].getClassName(), "Involution");
    assertEquals(m.countParams(), model.countParams());
    m.dispose();
    model.dispose();
    assertThrows(
      () => new Involution({ kernelSize: 4 }),
      Error,
      "odd integer",
    );
    const bad = new Involution({ kernelSize: 3, groupChannels: 3 });
    assertThrows(
      () => bad.apply(tf.input({ shape: [4, 4, 8] })),
      Error,
      "not divisible by groupChannels 3",
    );
  });
});

Deno.test("Involution training mode updates the moving statistics without leaking", () => {
  const layer = new Involution({ kernelSize: 3, groupChannels: 4, seed: 2 });
  const x = tf.tensor4d(randomArray(2 * 5 * 5 * 8, 9), [2, 5, 5, 8]);
  layer.apply(x);
  const meanIndex = weightIndex(layer, "bn_moving_mean");
  const before = layer.getWeights()[meanIndex].dataSync().slice();
  const start = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
  }
  assertEquals(tf.memory().numTensors, start);
  const after = layer.getWeights()[meanIndex].dataSync();
  assert(after.some((v, i) => v !== before[i]), "moving mean moved");
  x.dispose();
  layer.dispose();
});
