// Small functional versions of the project's three model families (conv net
// with batch norm, involution network, transformer block), written with
// explicit parameters so that the same values can be rebuilt on each backend.
import * as tf from "@tensorflow/tfjs";
import { type HostTensor, seeded, toTensor } from "./_test_util.ts";

/** A model: named parameter shapes, an input shape and a loss. */
export interface TestModel {
  name: string;
  params: Record<string, number[]>;
  input: number[];
  loss(
    p: Record<string, tf.Tensor>,
    x: tf.Tensor,
    labels: tf.Tensor,
  ): tf.Scalar;
}

const CLASSES = 5;

function batchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  axes: number[],
): tf.Tensor {
  const { mean, variance } = tf.moments(x, axes);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
}

function crossEntropy(labels: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(
    labels,
    logits,
    undefined,
    0.1,
  ) as tf.Scalar;
}

/** conv 3x3 + batch norm + relu, strided conv + relu6, max pool, dense. */
export const CONV_NET: TestModel = {
  name: "conv net",
  input: [3, 8, 8, 3],
  params: {
    w1: [3, 3, 3, 8],
    gamma: [8],
    beta: [8],
    w2: [3, 3, 8, 8],
    dense: [8, CLASSES],
    bias: [CLASSES],
  },
  loss(p, x, labels) {
    let h: tf.Tensor = tf.conv2d(
      x as tf.Tensor4D,
      p.w1 as tf.Tensor4D,
      1,
      "same",
    );
    h = tf.relu(batchNorm(h, p.gamma, p.beta, [0, 1, 2]));
    h = tf.relu6(tf.conv2d(h as tf.Tensor4D, p.w2 as tf.Tensor4D, 2, "same"));
    h = tf.maxPool(h as tf.Tensor4D, 2, 2, "valid");
    const pooled = tf.mean(h, [1, 2]);
    return crossEntropy(labels, tf.add(tf.matMul(pooled, p.dense), p.bias));
  },
};

/**
 * A 1x1 stem conv, then involution (kernel 3, stride 2, 2 groups of 4
 * channels): kernels generated from the average-pooled features, then pad +
 * 9 shifted, strided windows, each multiplied by its kernel broadcast over
 * the group's channels, summed. The stride is taken as slice + reshape +
 * slice because tfjs 4.22 has no gradient for StridedSlice.
 */
export const INVOLUTION_NET: TestModel = {
  name: "involution net",
  input: [2, 8, 8, 4],
  params: {
    stem: [1, 1, 4, 8],
    reduce: [1, 1, 8, 2],
    gamma: [2],
    beta: [2],
    span: [1, 1, 2, 18],
    dense: [8, CLASSES],
  },
  loss(p, input, labels) {
    const x = tf.conv2d(input as tf.Tensor4D, p.stem as tf.Tensor4D, 1, "same");
    const [n, height, width, channels] = x.shape;
    const k = 3, stride = 2, groups = 2, groupChannels = channels / groups;
    const outH = height / stride, outW = width / stride;
    const pooled = tf.avgPool(x, stride, stride, "valid");
    let h: tf.Tensor = tf.conv2d(pooled, p.reduce as tf.Tensor4D, 1, "same");
    h = tf.relu(batchNorm(h, p.gamma, p.beta, [0, 1, 2]));
    const kernels = tf.conv2d(
      h as tf.Tensor4D,
      p.span as tf.Tensor4D,
      1,
      "same",
    )
      .reshape([n, outH, outW, k * k, groups, 1]);
    const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    let acc: tf.Tensor = tf.zeros([n, outH, outW, groups, groupChannels]);
    for (let u = 0; u < k; u++) {
      for (let v = 0; v < k; v++) {
        const window = tf.slice(
          tf.slice(padded, [0, u, v, 0], [
            n,
            outH * stride,
            outW * stride,
            channels,
          ])
            .reshape([n, outH, stride, outW, stride, channels]),
          [0, 0, 0, 0, 0, 0],
          [n, outH, 1, outW, 1, channels],
        ).reshape([n, outH, outW, groups, groupChannels]);
        const kernel = tf.slice(kernels, [0, 0, 0, u * k + v, 0, 0], [
          n,
          outH,
          outW,
          1,
          groups,
          1,
        ])
          .reshape([n, outH, outW, groups, 1]);
        acc = tf.add(acc, tf.mul(window, kernel));
      }
    }
    const features = tf.sum(acc.reshape([n, outH, outW, channels]), [1, 2]);
    return crossEntropy(labels, tf.matMul(features, p.dense));
  },
};

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, x.rank - 1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6)));
  return tf.add(tf.mul(normed, gamma), beta);
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
}

/**
 * A pre-norm transformer block (2 heads, seeded dropout on the attention
 * weights, GELU MLP) and a linear head on the mean token.
 */
export const TRANSFORMER_BLOCK: TestModel = {
  name: "transformer block",
  input: [3, 6, 8],
  params: {
    ln1g: [8],
    ln1b: [8],
    qkv: [8, 24],
    proj: [8, 8],
    ln2g: [8],
    ln2b: [8],
    fc1: [8, 16],
    fc2: [16, 8],
    head: [8, CLASSES],
  },
  loss(p, x, labels) {
    const [n, tokens, dim] = x.shape;
    const heads = 2, headDim = dim / heads;
    const normed = layerNorm(x, p.ln1g, p.ln1b).reshape([n * tokens, dim]);
    const qkv = tf.matMul(normed, p.qkv).reshape([n, tokens, 3, heads, headDim])
      .transpose([2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv);
    let attention = tf.softmax(
      tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headDim)),
    );
    attention = tf.dropout(attention, 0.1, undefined, 7);
    const mixed = tf.matMul(attention, v).transpose([0, 2, 1, 3]).reshape([
      n * tokens,
      dim,
    ]);
    const h = tf.add(x, tf.matMul(mixed, p.proj).reshape([n, tokens, dim]));
    const hidden = gelu(
      tf.matMul(layerNorm(h, p.ln2g, p.ln2b).reshape([n * tokens, dim]), p.fc1),
    );
    const out = tf.add(h, tf.matMul(hidden, p.fc2).reshape([n, tokens, dim]));
    return crossEntropy(labels, tf.matMul(tf.mean(out, 1), p.head));
  },
};

/** The three model families. */
export const TEST_MODELS: TestModel[] = [
  CONV_NET,
  INVOLUTION_NET,
  TRANSFORMER_BLOCK,
];

/** Seeded parameters, input and one-hot labels for `model`. */
export function hostData(model: TestModel): {
  params: Record<string, HostTensor>;
  x: HostTensor;
  labels: HostTensor;
} {
  const params: Record<string, HostTensor> = {};
  let seed = 100;
  for (const [name, shape] of Object.entries(model.params)) {
    params[name] = name.startsWith("gamma") || name.endsWith("g")
      ? { shape, values: new Float32Array(shape[0]).fill(1) }
      : seeded(shape, seed++, 0.5);
  }
  const batch = model.input[0];
  const labels = new Float32Array(batch * CLASSES);
  for (let i = 0; i < batch; i++) labels[i * CLASSES + (i % CLASSES)] = 1;
  return {
    params,
    x: seeded(model.input, 7),
    labels: { shape: [batch, CLASSES], values: labels },
  };
}

/** Loss and the gradient of every parameter, on the current backend. */
export function lossAndGrads(model: TestModel): tf.Tensor[] {
  const data = hostData(model);
  const names = Object.keys(data.params);
  const x = toTensor(data.x);
  const labels = toTensor(data.labels);
  const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
    model.loss(Object.fromEntries(names.map((n, i) => [n, ps[i]])), x, labels)
  )(names.map((n) => toTensor(data.params[n])));
  return [value, ...grads];
}
