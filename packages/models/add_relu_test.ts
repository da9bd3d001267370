import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { AddRelu } from "./add_relu.ts";

await initBackend({ backend: "cpu" });

Deno.test("AddRelu equals tf.layers.add + tf.layers.reLU, and serialises", async () => {
  const a = tf.input({ shape: [3, 4] });
  const b = tf.input({ shape: [3, 4] });
  const model = tf.model({
    inputs: [a, b],
    outputs: new AddRelu({ name: "end" }).apply([a, b]) as tf.SymbolicTensor,
  });
  const x = tf.randomNormal([2, 3, 4], 0, 1, "float32", 1);
  const y = tf.randomNormal([2, 3, 4], 0, 1, "float32", 2);
  const out = model.predict([x, y]) as tf.Tensor;
  const expected = tf.relu(tf.add(x, y));
  assertEquals(Array.from(await out.data()), Array.from(await expected.data()));
  // rebuilt from its JSON topology, as a saved model is loaded
  const json = JSON.parse(JSON.stringify(model.toJSON(null, false)));
  const loaded = await tf.models.modelFromJSON({ modelTopology: json });
  assertEquals(loaded.layers[2].getClassName(), "VitkdAddRelu");
  const again = loaded.predict([x, y]) as tf.Tensor;
  assertEquals(Array.from(await again.data()), Array.from(await out.data()));
  tf.dispose([x, y, out, expected, again]);
  assertThrows(
    () =>
      new AddRelu().apply([
        tf.input({ shape: [3] }),
        tf.input({ shape: [4] }),
      ]),
    Error,
    "two inputs of one shape",
  );
});
