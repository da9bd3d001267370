import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { ModelError, type ModelErrorCode } from "./errors.ts";
import {
  loadModel,
  type ModelMetaInput,
  saveModel,
  weightFingerprint,
} from "./persistence.ts";
import { predictLogitsPerHead } from "./predict.ts";
import { buildTinyModel, TINY_MODELS } from "./tiny_models.ts";

await initBackend({ backend: "cpu" });

function metaFor(kind: keyof typeof TINY_MODELS): ModelMetaInput {
  return {
    architecture: TINY_MODELS[kind],
    classNames: ["a", "b", "c", "d"],
    input: {
      height: 8,
      width: 8,
      channels: 3,
      normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    },
    dataFingerprint: "data-123",
    metrics: { accuracy: 0.5 },
  };
}

/** Asserts that loading `dir` fails with a ModelError of `code` whose message includes `message`. */
async function rejectsWith(
  dir: string,
  code: ModelErrorCode,
  message: string,
): Promise<void> {
  const error = await assertRejects(() => loadModel(dir), ModelError, message);
  assertEquals(error.code, code, error.message);
}

const x = tf.randomNormal([3, 8, 8, 3], 0, 1, "float32", 9) as tf.Tensor4D;

for (const kind of ["resnet", "rednet", "vit"] as const) {
  Deno.test(`a saved ${kind} loads back with identical predictions and meta`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "vitkd-models-" });
    try {
      const model = buildTinyModel(kind);
      // move batch-norm statistics away from their initial values
      tf.dispose(model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[]);
      const written = await saveModel(model, dir, metaFor(kind));
      const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(files, ["meta.json", "model.json", "weights.bin"]);
      const { model: loaded, meta } = await loadModel(dir);
      assertEquals(meta, written);
      assertEquals(meta.format, "vitkd-model");
      assertEquals(meta.architecture.name, TINY_MODELS[kind].name);
      assertEquals(await weightFingerprint(loaded), written.weightFingerprint);
      const before = predictLogitsPerHead(model, x);
      const after = predictLogitsPerHead(loaded, x);
      assertEquals(after.length, before.length);
      for (let i = 0; i < before.length; i++) {
        assertEquals(
          Array.from(after[i].dataSync()),
          Array.from(before[i].dataSync()),
        );
      }
      tf.dispose([...before, ...after]);
      model.dispose();
      loaded.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the weight fingerprint follows the weights", async () => {
  const a = buildTinyModel("resnet");
  const b = buildTinyModel("resnet");
  assertEquals(await weightFingerprint(a), await weightFingerprint(b));
  assert(/^w1-[0-9a-f]{16}$/.test(await weightFingerprint(a)));
  const weights = b.getWeights();
  const changed = weights.map((w, i) => i === 0 ? tf.add(w, 1e-6) : w);
  b.setWeights(changed);
  assertNotEquals(await weightFingerprint(a), await weightFingerprint(b));
  tf.dispose(changed[0]);
  a.dispose();
  b.dispose();
});

Deno.test("bad model folders fail with a message that says which", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vitkd-models-" });
  try {
    await rejectsWith(`${dir}/nope`, "not-found", "does not exist");
    const model = buildTinyModel("resnet");
    await saveModel(model, `${dir}/m`, metaFor("resnet"));
    model.dispose();
    const metaPath = `${dir}/m/meta.json`;
    const original = await Deno.readTextFile(metaPath);

    await Deno.rename(`${dir}/m/weights.bin`, `${dir}/weights.bin`);
    await rejectsWith(
      `${dir}/m`,
      "not-found",
      "incomplete: " + `${dir}/m/weights.bin is missing`,
    );
    await Deno.rename(`${dir}/weights.bin`, `${dir}/m/weights.bin`);

    const modelJsonPath = `${dir}/m/model.json`;
    const modelJson = await Deno.readTextFile(modelJsonPath);
    await Deno.writeTextFile(modelJsonPath, "{ truncated");
    await rejectsWith(
      `${dir}/m`,
      "corrupt",
      `${modelJsonPath} is not valid JSON`,
    );
    // a layer class tfjs does not know: its own error, wrapped with the file
    await Deno.writeTextFile(
      modelJsonPath,
      modelJson.replace('"class_name":"Conv2D"', '"class_name":"NoSuchLayer"'),
    );
    await rejectsWith(`${dir}/m`, "corrupt", "tfjs cannot build the model");
    await Deno.writeTextFile(modelJsonPath, modelJson);

    await Deno.writeTextFile(`${dir}/m/weights.bin`, "short");
    await rejectsWith(`${dir}/m`, "corrupt", "holds 5 bytes");
    await Deno.remove(`${dir}/m/weights.bin`);

    await Deno.remove(metaPath);
    await rejectsWith(
      `${dir}/m`,
      "not-found",
      "incomplete: " + `${metaPath} is missing`,
    );

    await Deno.writeTextFile(
      metaPath,
      JSON.stringify({ ...JSON.parse(original), format: "other" }),
    );
    await rejectsWith(
      `${dir}/m`,
      "unsupported",
      'format is "other", expected "vitkd-model"',
    );

    await Deno.writeTextFile(
      metaPath,
      JSON.stringify({ ...JSON.parse(original), version: 99 }),
    );
    await rejectsWith(
      `${dir}/m`,
      "unsupported",
      "format version 99 is not supported",
    );

    const unknown = JSON.parse(original);
    unknown.architecture.name = "alexnet";
    await Deno.writeTextFile(metaPath, JSON.stringify(unknown));
    await rejectsWith(
      `${dir}/m`,
      "unsupported",
      'unknown architecture "alexnet"',
    );

    await Deno.writeTextFile(metaPath, "{not json");
    await rejectsWith(`${dir}/m`, "corrupt", "is not valid JSON");

    const model2 = buildTinyModel("resnet");
    await assertRejects(
      () =>
        saveModel(model2, `${dir}/bad`, {
          ...metaFor("resnet"),
          classNames: [1] as unknown as string[],
        }),
      ModelError,
      "classNames must be an array of strings",
    );
    model2.dispose();
    // saving leaves no temporary files behind
    assertEquals(
      [...Deno.readDirSync(`${dir}/m`)].filter((e) => e.name.includes(".tmp-"))
        .length,
      0,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
