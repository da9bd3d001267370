import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { registerWasmTrainingKernels } from "./register.ts";
import { assertWasmMatchesCpu, onBackend, toTensor } from "./_test_util.ts";
import { hostData, lossAndGrads, TEST_MODELS } from "./_test_models.ts";

Deno.test("registerWasmTrainingKernels registers its kernels once", () => {
  const first = registerWasmTrainingKernels();
  for (
    const name of [
      "Conv2DBackpropFilter",
      "Conv2DBackpropInput",
      "BatchMatMul",
      "_FusedMatMul",
      "ReluGrad",
      "Relu6Grad",
      "LogSoftmax",
    ]
  ) {
    assert(first.includes(name), `${name} missing from ${first}`);
    assert(tf.getKernel(name, "wasm"), `${name} not in the wasm registry`);
  }
  const kernelBefore = tf.getKernel("BatchMatMul", "wasm");
  assertEquals(registerWasmTrainingKernels(), first);
  assert(tf.getKernel("BatchMatMul", "wasm") === kernelBefore);
});

// Losses and gradients through a few dozen float32 ops: rtol 1e-3 / atol 1e-4.
const TOLERANCE = { rtol: 1e-3, atol: 1e-4 };

for (const model of TEST_MODELS) {
  Deno.test(`${model.name}: loss and every gradient on wasm = cpu`, async () => {
    await assertWasmMatchesCpu(
      model.name,
      () => lossAndGrads(model),
      TOLERANCE,
    );
  });

  Deno.test(`${model.name}: Adam steps on wasm lower the loss and leak nothing`, async () => {
    await onBackend("wasm", () => tf.scalar(0));
    const data = hostData(model);
    const x = toTensor(data.x);
    const labels = toTensor(data.labels);
    const params = Object.fromEntries(
      Object.entries(data.params).map((
        [n, h],
      ) => [
        n,
        tf.tidy(() => tf.variable(toTensor(h), true, `${model.name}/${n}`)),
      ]),
    );
    const optimizer = tf.train.adam(0.02);
    const step = (): number => {
      const loss = optimizer.minimize(
        () => model.loss(params, x, labels),
        true,
      )!;
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    };
    try {
      const first = step(); // creates Adam's moment variables
      const backend = tf.backend();
      const tensorsBefore = tf.memory().numTensors;
      const dataBefore = backend.numDataIds();
      let last = first;
      for (let i = 0; i < 6; i++) last = step();
      assertEquals(
        tf.memory().numTensors,
        tensorsBefore,
        "engine tensors leaked",
      );
      assertEquals(backend.numDataIds(), dataBefore, "wasm buffers leaked");
      assert(last < first, `loss did not fall: ${first} -> ${last}`);
    } finally {
      optimizer.dispose();
      tf.dispose([x, labels, ...Object.values(params)]);
    }
  });
}

Deno.test("tfjs layers (conv + batch norm, layer norm + gelu dense) train on wasm", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  const conv = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 3],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: "same",
      }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 5 }),
    ],
  });
  const tokens = tf.input({ shape: [6, 8] });
  let h = tf.layers.layerNormalization().apply(tokens) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 16, activation: "gelu" }).apply(
    h,
  ) as tf.SymbolicTensor;
  h = tf.layers.dropout({ rate: 0.1 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling1d().apply(h) as tf.SymbolicTensor;
  const transformer = tf.model({
    inputs: tokens,
    outputs: tf.layers.dense({ units: 5 }).apply(h) as tf.SymbolicTensor,
  });
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 5);
  for (
    const [model, x] of [
      [conv, tf.randomNormal([4, 8, 8, 3], 0, 1, "float32", 1)],
      [transformer, tf.randomNormal([4, 6, 8], 0, 1, "float32", 2)],
    ] as const
  ) {
    const optimizer = tf.train.adam(0.01);
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const loss = optimizer.minimize(
        () =>
          tf.losses.softmaxCrossEntropy(
            labels,
            model.apply(x, { training: true }) as tf.Tensor,
          ) as tf.Scalar,
        true,
      )!;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    assert(losses.every(Number.isFinite), `non-finite loss ${losses}`);
    assert(losses[4] < losses[0], `loss did not fall: ${losses}`);
    optimizer.dispose();
    x.dispose();
    model.dispose();
  }
  labels.dispose();
});
