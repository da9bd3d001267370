import * as tf from "@tensorflow/tfjs";
import { assertThrows } from "@std/assert";
import {
  assertWasmMatchesCpu,
  onBackend,
  seeded,
  toTensor,
} from "./_test_util.ts";

// float32 sums of up to a few hundred products: rtol 1e-4 / atol 1e-4.
const TOLERANCE = { rtol: 1e-4, atol: 1e-4 };

type Pad = "same" | "valid" | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];

const CASES: {
  x: number[];
  filter: number[];
  strides: [number, number];
  pad: Pad;
}[] = [
  { x: [1, 5, 5, 2], filter: [3, 3, 2, 3], strides: [1, 1], pad: "same" },
  { x: [3, 7, 6, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: "same" },
  { x: [2, 8, 8, 4], filter: [3, 3, 4, 2], strides: [2, 1], pad: "valid" },
  { x: [2, 6, 6, 3], filter: [1, 1, 3, 5], strides: [1, 1], pad: "valid" },
  { x: [2, 9, 9, 2], filter: [1, 1, 2, 3], strides: [2, 2], pad: "same" },
  { x: [1, 9, 7, 2], filter: [5, 3, 2, 16], strides: [2, 3], pad: "same" },
  { x: [2, 9, 9, 3], filter: [7, 7, 3, 4], strides: [2, 2], pad: "same" },
  { x: [2, 10, 10, 3], filter: [3, 3, 3, 4], strides: [3, 3], pad: "valid" },
  {
    x: [2, 6, 5, 2],
    filter: [3, 3, 2, 3],
    strides: [1, 2],
    pad: [[0, 0], [2, 1], [0, 2], [0, 0]],
  },
];

for (const c of CASES) {
  const name =
    `Conv2DBackpropFilter wasm = cpu: x [${c.x}] filter [${c.filter}] ` +
    `strides ${c.strides} pad ${JSON.stringify(c.pad)}`;
  Deno.test(name, async () => {
    const x = seeded(c.x, 11);
    const filterShape = c.filter as [number, number, number, number];
    const outShape = tf.backend_util.computeConv2DInfo(
      c.x as [number, number, number, number],
      filterShape,
      c.strides,
      1,
      c.pad,
    ).outShape;
    const dy = seeded(outShape, 23);
    await assertWasmMatchesCpu(
      name,
      () =>
        tf.engine().runKernel("Conv2DBackpropFilter", {
          x: toTensor(x),
          dy: toTensor(dy),
        }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: "NHWC",
          filterShape,
        }) as tf.Tensor,
      TOLERANCE,
    );
  });
}

Deno.test("Conv2DBackpropFilter wasm rejects a dy of the wrong shape", async () => {
  await onBackend("wasm", () => tf.scalar(0));
  assertThrows(
    () =>
      tf.engine().runKernel("Conv2DBackpropFilter", {
        x: tf.zeros([1, 4, 4, 1]),
        dy: tf.zeros([1, 3, 3, 1]),
      }, {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        filterShape: [3, 3, 1, 1],
      }),
    Error,
    "dy has shape [1,3,3,1], expected [1,4,4,1]",
  );
  tf.disposeVariables();
});
