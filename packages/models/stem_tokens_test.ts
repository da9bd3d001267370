import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { buildVit } from "./vit.ts";
import { stemKinds } from "./stem_tokens.ts";

await initBackend({ backend: "cpu" });

function stemVit(tokens = 2): tf.LayersModel {
  return buildVit("stem-vit", {
    inputShape: [8, 8, 3],
    numClasses: 4,
    patchSize: 4,
    dim: 16,
    depth: 1,
    numHeads: 2,
    mlpDim: 32,
    numDistillationTokens: tokens,
    distillationTokens: "stems",
    seed: 3,
  });
}

Deno.test("stemKinds alternates conv and involution in teacher order", () => {
  assertEquals(stemKinds(3), ["conv", "involution", "conv"]);
});

Deno.test("stem tokens: one head per token, stems instead of learned tokens", () => {
  const model = stemVit();
  try {
    assertEquals(model.outputs.length, 3);
    const names = model.weights.map((w) => w.name).join(" ");
    assert(names.includes("stem1_conv_conv"), names);
    assert(names.includes("stem2_involution_involution"), names);
    assert(!names.includes("distillation_tokens"), names);
    assertThrows(
      () =>
        buildVit("bad", {
          inputShape: [8, 8, 3],
          numClasses: 4,
          patchSize: 4,
          dim: 16,
          depth: 1,
          numHeads: 2,
          mlpDim: 32,
          numDistillationTokens: 2,
          distillationTokens: "pooled" as "stems",
        }),
      Error,
      "distillationTokens",
    );
  } finally {
    model.dispose();
  }
});

Deno.test("stem tokens depend on the image and sit after the class token", () => {
  const model = stemVit();
  const inserted = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer("insert_stem_tokens").output as tf.SymbolicTensor,
  });
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 7);
  try {
    const tokens = inserted.predict(x) as tf.Tensor3D;
    // 1 class token + 2 stem tokens + 4 patches
    assertEquals(tokens.shape, [2, 7, 16]);
    const rows = tokens.arraySync();
    tokens.dispose();
    // the class token is the same learned vector for both images (plus the
    // same position embedding); a stem token is a function of the image
    assertAlmostEquals(rows[0][0][0], rows[1][0][0], 1e-6);
    const differ = rows[0][1].some((v, i) =>
      Math.abs(v - rows[1][1][i]) > 1e-6
    );
    assert(differ, "the conv stem token is the same for two images");
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("a stem-token ViT trains without leaking and round-trips through save", async () => {
  const model = stemVit();
  const x = tf.randomNormal([8, 8, 8, 3], 0, 1, "float32", 4) as tf.Tensor4D;
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32"), 4);
  const optimizer = tf.train.adam(0.01);
  const loss = () =>
    tf.tidy(() => {
      const heads = model.apply(x, { training: true }) as tf.Tensor[];
      return tf.addN(
        heads.map((h) => tf.losses.softmaxCrossEntropy(y, h)),
      ) as tf.Scalar;
    });
  const step = () => {
    const value = optimizer.minimize(loss, true)!;
    const v = value.dataSync()[0];
    value.dispose();
    return v;
  };
  const first = step();
  const counted = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 10; i++) last = step();
  assertEquals(tf.memory().numTensors, counted);
  assert(last < first, `loss fell from ${first} to ${last}`);
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((artifacts) => {
    saved = artifacts;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const a = (model.predict(x) as tf.Tensor[])[2];
  const b = (loaded.predict(x) as tf.Tensor[])[2];
  assertAlmostEquals(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], 0, 1e-5);
  tf.dispose([a, b, x, y]);
  optimizer.dispose();
  loaded.dispose();
  model.dispose();
});
