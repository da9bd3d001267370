import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { AdamWMoments } from "./adamw_moments.ts";

await initBackend({ backend: "cpu" });

Deno.test("AdamWMoments keeps its values through packing and unpacking, without leaks", async () => {
  const variables = [
    tf.variable(tf.zeros([2, 3]), true, "a/kernel"),
    tf.variable(tf.zeros([4]), true, "a/bias"),
  ];
  const start = tf.memory().numTensors;
  const moments = new AdamWMoments(variables, false);
  assertEquals(moments.offsets, [0, 6]);
  const m = [
    Float32Array.from([1, 2, 3, 4, 5, 6]),
    Float32Array.from([7, 8, 9, 10]),
  ];
  const v = [m[0].map((x) => -x), m[1].map((x) => -x)];
  moments.write(m, v);
  const packed = moments.packedBuffer();
  assertEquals(moments.packed, true);
  assertEquals(Array.from(await packed.data()), [
    ...m[0],
    ...m[1],
    ...v[0],
    ...v[1],
  ]);
  assertEquals(await moments.read(), { m, v });
  const { m: mVars, v: vVars } = moments.perVariable();
  assertEquals(moments.packed, false);
  assertEquals(mVars.map((t) => t.shape), [[2, 3], [4]]);
  assertEquals(Array.from(await vVars[1].data()), Array.from(v[1]));
  moments.packedBuffer();
  moments.write(v, m);
  assertEquals(await moments.read(), { m: v, v: m });
  moments.dispose();
  assertEquals(tf.memory().numTensors, start);
  tf.dispose(variables);
});
