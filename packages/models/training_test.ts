import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { predictLogitsPerHead, predictProbabilities } from "./predict.ts";
import { buildModel } from "./registry.ts";
import { buildTinyModel, crossEntropyOverHeads } from "./tiny_models.ts";
import { DropPath } from "./vit_layers.ts";

await initBackend({ backend: "cpu" });

for (const kind of ["resnet", "rednet", "vit"] as const) {
  Deno.test(`${kind}: Adam steps lower the loss and keep the tensor count flat`, () => {
    const model = buildTinyModel(kind);
    const x = tf.randomNormal([8, 8, 8, 3], 0, 1, "float32", 4) as tf.Tensor4D;
    const labels = tf.oneHot(
      tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32"),
      4,
    ) as tf.Tensor2D;
    const optimizer = tf.train.adam(0.01);
    const step = () => {
      const loss = optimizer.minimize(
        () => crossEntropyOverHeads(model, x, labels, true),
        true,
      )!;
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    };
    const first = step();
    const counted = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 12; i++) last = step();
    assertEquals(
      tf.memory().numTensors,
      counted,
      "tensor count after 12 more steps",
    );
    assert(last < first * 0.8, `loss fell from ${first} to ${last}`);
    optimizer.dispose();
    tf.dispose([x, labels]);
    model.dispose();
  });
}

Deno.test("predictProbabilities is the mean over heads of softmax", () => {
  const model = buildTinyModel("vit");
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const probabilities = predictProbabilities(model, x);
  assertEquals(tf.memory().numTensors, before + 1);
  const heads = predictLogitsPerHead(model, x);
  assertEquals(heads.length, 3);
  const expected = tf.tidy(() =>
    tf.div(tf.addN(heads.map((h) => tf.softmax(h))), 3)
  );
  const got = probabilities.dataSync();
  const want = expected.dataSync();
  for (let i = 0; i < want.length; i++) {
    assertAlmostEquals(got[i], want[i], 1e-6);
  }
  const rowSums = tf.sum(probabilities, 1).dataSync();
  for (const s of rowSums) assertAlmostEquals(s, 1, 1e-5);
  tf.dispose([x, probabilities, expected, ...heads]);
  model.dispose();
});

Deno.test("DropPath: identity at inference, drops whole samples in training", () => {
  const layer = new DropPath({ rate: 0.5 });
  const x = tf.ones([64, 3, 2]);
  const inference = layer.apply(x, { training: false }) as tf.Tensor;
  assertEquals(Array.from(inference.dataSync()), Array.from(x.dataSync()));
  const trained = layer.apply(x, { training: true }) as tf.Tensor;
  const perSample = tf.reshape(trained, [64, 6]).arraySync() as number[][];
  for (const row of perSample) {
    assert(
      row.every((v) => v === row[0]) && (row[0] === 0 || row[0] === 2),
      `row ${row}`,
    );
  }
  const kept = perSample.filter((row) => row[0] === 2).length;
  assert(kept > 10 && kept < 54, `kept ${kept} of 64`);
  tf.dispose([x, inference, trained]);
});

Deno.test("dropout and stochastic depth are active only in training", () => {
  const model = buildModel("vit-tiny", {
    inputShape: [8, 8, 3],
    depth: 2,
    dim: 16,
    numHeads: 2,
    mlpDim: 16,
    dropout: 0.3,
    dropPath: 0.3,
  });
  assert(model.layers.some((l) => l.getClassName() === "DropPath"));
  assert(model.layers.some((l) => l.getClassName() === "Dropout"));
  const x = tf.randomNormal([4, 8, 8, 3], 0, 1, "float32", 6) as tf.Tensor4D;
  const a = model.predict(x) as tf.Tensor[];
  const b = model.predict(x) as tf.Tensor[];
  assertEquals(Array.from(a[0].dataSync()), Array.from(b[0].dataSync()));
  const t = model.apply(x, { training: true }) as tf.Tensor[];
  assert(Array.from(t[0].dataSync()).some((v, i) => v !== a[0].dataSync()[i]));
  tf.dispose([x, ...a, ...b, ...t]);
  model.dispose();
});
