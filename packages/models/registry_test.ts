import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { initBackend } from "@vitkd/backend";
import {
  buildModel,
  listModels,
  registerModel,
  resolveOptions,
} from "./registry.ts";
import { buildResNet } from "./resnet.ts";
import { modelStats } from "./stats.ts";

await initBackend({ backend: "cpu" });

Deno.test("the reference student config has 814,238 parameters, like the PyTorch reference", () => {
  const model = buildModel("vit-small", {
    dim: 128,
    depth: 6,
    numHeads: 4,
    mlpDim: 256,
    patchSize: 4,
    inputShape: [32, 32, 3],
    numDistillationTokens: 2,
    numClasses: 10,
  });
  assertEquals(model.countParams(), 814_238);
  assertEquals(model.outputs.length, 3);
  model.dispose();
});

Deno.test("student heads: class head first, one per distillation token, T = 0 is a plain ViT", () => {
  const small = {
    dim: 16,
    depth: 1,
    numHeads: 2,
    mlpDim: 32,
    inputShape: [8, 8, 3] as [number, number, number],
  };
  for (const tokens of [0, 1, 3]) {
    const model = buildModel("vit-tiny", {
      ...small,
      numDistillationTokens: tokens,
      numClasses: 5,
    });
    assertEquals(model.outputs.length, 1 + tokens);
    assertEquals(model.outputNames[0], "head_class");
    for (let t = 1; t <= tokens; t++) {
      assertEquals(model.outputNames[t], `head_distillation${t}`);
    }
    for (const output of model.outputs) assertEquals(output.shape, [null, 5]);
    model.dispose();
  }
});

// tfjs's convolution, and ours for the stem (its input needs no gradient)
const CONVS = ["Conv2D", "VitkdPlainConv2D"];

Deno.test("the teachers have the reference shapes", () => {
  const resnet8 = buildModel("resnet8");
  const convs = resnet8.layers.filter((l) => CONVS.includes(l.getClassName()));
  // stem + 2 per block + 2 projection shortcuts
  assertEquals(convs.length, 1 + 6 + 2);
  assertEquals(resnet8.outputs[0].shape, [null, 10]);
  const rednet8 = buildModel("rednet8");
  assertEquals(
    rednet8.layers.filter((l) => l.getClassName() === "Involution").length,
    6,
  );
  const mnist = buildModel("resnet8-mnist");
  assertEquals(mnist.inputs[0].shape, [null, 28, 28, 1]);
  const resnet20 = buildModel("resnet20");
  assertEquals(
    resnet20.layers.filter((l) => CONVS.includes(l.getClassName())).length,
    1 + 18 + 2,
  );
  for (const model of [resnet8, rednet8, mnist, resnet20]) model.dispose();
});

Deno.test("the same seed gives the same weights, another seed other weights", () => {
  for (const name of ["rednet8", "vit-tiny"]) {
    const options = name === "rednet8"
      ? {
        inputShape: [8, 8, 3] as [number, number, number],
        widths: [16, 16, 32],
      }
      : { inputShape: [8, 8, 3] as [number, number, number], depth: 1 };
    const a = buildModel(name, { ...options, seed: 42 });
    const b = buildModel(name, { ...options, seed: 42 });
    const c = buildModel(name, { ...options, seed: 43 });
    const values = (m: tf.LayersModel) =>
      m.getWeights().map((w) => Array.from(w.dataSync()));
    assertEquals(values(a), values(b));
    assertNotEquals(values(a), values(c));
    // every randomly initialised weight differs from the other seed's
    const va = values(a), vc = values(c);
    for (let i = 0; i < va.length; i++) {
      if (new Set(va[i]).size > 1) {
        assertNotEquals(va[i], vc[i], `${name} weight ${a.weights[i].name}`);
      }
    }
    [a, b, c].forEach((m) => m.dispose());
  }
});

Deno.test("FLOPs per image follow the analytic count", () => {
  // ViT: dim 8, depth 1, 2 heads, MLP 16, patch 4 on 8x8x3, T = 1, 3 classes
  const model = buildModel("vit-tiny", {
    inputShape: [8, 8, 3],
    dim: 8,
    depth: 1,
    numHeads: 2,
    mlpDim: 16,
    numDistillationTokens: 1,
    numClasses: 3,
  });
  const patches = 4, tokens = patches + 2, d = 8;
  const expected = 2 * patches * 4 * 4 * 3 * d + // patch embedding
    2 * tokens * d * 3 * d + 2 * 2 * tokens * tokens * d + 2 * tokens * d * d + // attention
    2 * tokens * d * 16 * 2 + // MLP
    2 * 2 * d * 3; // two heads
  assertEquals(modelStats(model).flopsPerImage, expected);
  model.dispose();
  // ResNet on 4x4x3 with widths [4, 8], one block per stage, 2 classes
  const resnet = buildResNet("r", "convolution", {
    inputShape: [4, 4, 3],
    numClasses: 2,
    widths: [4, 8],
    blocksPerStage: 1,
  });
  const conv = (hw: number, k: number, cin: number, cout: number) =>
    2 * hw * k * k * cin * cout;
  const expectedResNet = conv(16, 3, 3, 4) + 2 * conv(16, 3, 4, 4) +
    conv(4, 3, 4, 8) +
    conv(4, 3, 8, 8) + conv(4, 1, 4, 8) + 2 * 8 * 2;
  assertEquals(modelStats(resnet).flopsPerImage, expectedResNet);
  resnet.dispose();
});

Deno.test("a new teacher kind is a builder plus registerModel", () => {
  registerModel("test-mlp", {
    role: "teacher",
    description: "a one-layer test teacher",
    defaults: { inputShape: [4, 4, 1], numClasses: 2, seed: 0 },
    build: (name, options) => {
      const input = tf.input({ shape: options.inputShape! });
      const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
      const out = tf.layers.dense({
        units: options.numClasses!,
        kernelInitializer: tf.initializers.glorotUniform({
          seed: options.seed,
        }),
      })
        .apply(flat) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out, name });
    },
  });
  assert(
    listModels().some((m) => m.name === "test-mlp" && m.role === "teacher"),
  );
  const model = buildModel("test-mlp", { numClasses: 3 });
  assertEquals(model.countParams(), 16 * 3 + 3);
  model.dispose();
});

Deno.test("bad names and options fail with a message naming them", () => {
  assertThrows(() => buildModel("resnet9"), Error, 'unknown model "resnet9"');
  assertThrows(
    () => buildModel("resnet8", { numClasses: 0 }),
    Error,
    "numClasses must be an integer >= 1",
  );
  assertThrows(
    () => buildModel("vit-tiny", { inputShape: [30, 30, 3] }),
    Error,
    "input 30x30 is not divisible by patchSize 4",
  );
  assertThrows(
    () => buildModel("vit-tiny", { numHeads: 3 }),
    Error,
    "dim 64 is not divisible by numHeads 3",
  );
  assertThrows(
    () => buildModel("rednet8", { widths: [16, 24, 32] }),
    Error,
    "widths[1] = 24 is not divisible by groupChannels 16",
  );
  assertThrows(
    () => buildModel("vit-tiny", { dropPath: 1 }),
    Error,
    "dropPath must be a number in [0, 1)",
  );
  assertThrows(
    () =>
      buildModel("resnet8", {
        inputShape: [32, 32] as unknown as [number, number, number],
      }),
    Error,
    "inputShape",
  );
  assertEquals(
    resolveOptions("vit-small", { numDistillationTokens: 1 })
      .numDistillationTokens,
    1,
  );
});
