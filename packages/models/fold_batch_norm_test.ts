import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { buildModel } from "./registry.ts";
import { foldBatchNorm } from "./fold_batch_norm.ts";
import { BatchNorm } from "./batch_norm.ts";
import { AddRelu } from "./add_relu.ts";
import { ConvAddRelu } from "./conv_add_relu.ts";
import type { LayersModel } from "./tf_types.ts";

await initBackend({ backend: "wasm" });

// Batch norms as training leaves them: statistics and affine parameters far
// from the initial 0 / 1, so a fold that used the wrong one would show.
function randomizeBatchNorms(model: LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (!(layer instanceof BatchNorm)) continue;
    const c = layer.getWeights()[0].shape[0];
    const values = [
      tf.randomUniform([c], 0.5, 1.5, "float32", seed++), // gamma
      tf.randomNormal([c], 0, 0.3, "float32", seed++), // beta
      tf.randomNormal([c], 0, 0.5, "float32", seed++), // moving mean
      tf.randomUniform([c], 0.2, 2, "float32", seed++), // moving variance
    ];
    layer.setWeights(values);
    tf.dispose(values);
  }
}

function maxRelativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() =>
    tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] /
    tf.max(tf.abs(b)).dataSync()[0]
  );
}

for (const name of ["resnet8", "rednet8"]) {
  Deno.test(`foldBatchNorm: ${name} folded predicts what the original does`, async () => {
    const model = buildModel(name, { seed: 3 });
    randomizeBatchNorms(model, 100);
    const before = tf.memory().numTensors;
    const { model: folded, folded: count } = await foldBatchNorm(model);
    try {
      const batchNorms = model.layers.filter((l) => l instanceof BatchNorm);
      // every batch norm of these models follows its own convolution, except
      // the ones after an involution (rednet's) or an add
      assert(count > 0 && count <= batchNorms.length, `${count}`);
      assertEquals(
        folded.layers.filter((l) => l instanceof BatchNorm).length,
        batchNorms.length - count,
      );
      const x = tf.randomNormal([4, 32, 32, 3], 0, 1, "float32", 7);
      const want = model.predict(x) as tf.Tensor;
      const got = folded.predict(x) as tf.Tensor;
      assertEquals(got.shape, want.shape);
      const error = maxRelativeError(got, want);
      assert(error < 1e-4, `max relative error ${error}`);
      tf.dispose([x, want, got]);
    } finally {
      folded.dispose();
    }
    // the copy's weights are gone with it; the original keeps its own
    assertEquals(tf.memory().numTensors, before);
    model.dispose();
  });
}

Deno.test("foldBatchNorm: resnet8 folds all nine conv + batch norm pairs and joins its three residual ends; a ViT has none", async () => {
  const resnet = buildModel("resnet8", { seed: 1 });
  const { model, folded, residuals } = await foldBatchNorm(resnet);
  assertEquals(folded, 9);
  assertEquals(residuals, 3);
  const classes = model.layers.map((l) => l.getClassName());
  assertEquals(classes.filter((c) => c === "Conv2D").length, 6);
  assertEquals(classes.filter((c) => c === ConvAddRelu.className).length, 3);
  assertEquals(classes.filter((c) => c === AddRelu.className).length, 0);
  assertEquals(model.layers.filter((l) => l instanceof BatchNorm).length, 0);
  // the same parameters, minus the batch norms' four vectors per channel
  const batchNormParams = resnet.layers.filter((l) => l instanceof BatchNorm)
    .reduce((n, l) => n + l.countParams(), 0);
  assertEquals(
    model.countParams(),
    resnet.countParams() - batchNormParams +
      resnet.layers.filter((l) => l instanceof BatchNorm)
        .reduce((n, l) => n + l.countParams() / 4, 0),
  );
  model.dispose();
  resnet.dispose();
  const vit = buildModel("vit-tiny", {
    inputShape: [28, 28, 1],
    patchSize: 7,
    numDistillationTokens: 2,
    seed: 1,
  });
  const copy = await foldBatchNorm(vit);
  assertEquals(copy.folded, 0);
  assertEquals(copy.model.countParams(), vit.countParams());
  copy.model.dispose();
  vit.dispose();
});
