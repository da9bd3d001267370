import * as tf from "@tensorflow/tfjs";
import { assertWasmMatchesCpu, seeded, toTensor } from "./_test_util.ts";

// float32 sums of up to a few hundred products: rtol 1e-4 / atol 1e-4.
const TOLERANCE = { rtol: 1e-4, atol: 1e-4 };

type Pad =
  | "same"
  | "valid"
  | [[number, number], [number, number], [number, number], [number, number]];

const CASES: {
  x: number[];
  filter: number[];
  strides: [number, number];
  pad: Pad;
}[] = [
  { x: [1, 5, 5, 2], filter: [3, 3, 2, 3], strides: [1, 1], pad: "same" },
  { x: [3, 7, 6, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: "same" },
  { x: [3, 8, 8, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: "same" },
  { x: [2, 8, 8, 4], filter: [3, 3, 4, 2], strides: [2, 1], pad: "valid" },
  { x: [2, 9, 8, 4], filter: [3, 3, 4, 2], strides: [2, 3], pad: "valid" },
  { x: [2, 6, 6, 3], filter: [1, 1, 3, 5], strides: [1, 1], pad: "valid" },
  { x: [2, 9, 9, 2], filter: [1, 1, 2, 3], strides: [2, 2], pad: "same" },
  { x: [1, 9, 7, 2], filter: [5, 3, 2, 6], strides: [2, 3], pad: "same" },
  { x: [2, 8, 8, 2], filter: [7, 7, 2, 3], strides: [1, 1], pad: "same" },
  // Strides past the filter size: some phases get no taps at all.
  { x: [2, 10, 11, 3], filter: [2, 2, 3, 4], strides: [3, 3], pad: "valid" },
  // Even filter: "same" pads more after than before.
  { x: [1, 8, 8, 2], filter: [4, 4, 2, 3], strides: [2, 2], pad: "same" },
  {
    x: [1, 7, 7, 2],
    filter: [3, 3, 2, 2],
    strides: [2, 2],
    pad: [[0, 0], [3, 3], [0, 4], [0, 0]],
  },
  {
    x: [2, 6, 5, 2],
    filter: [3, 3, 2, 3],
    strides: [1, 2],
    pad: [[0, 0], [2, 1], [0, 2], [0, 0]],
  },
  {
    x: [1, 5, 5, 1],
    filter: [2, 2, 1, 2],
    strides: [1, 1],
    pad: [[0, 0], [3, 0], [0, 3], [0, 0]],
  },
];

for (const c of CASES) {
  const name =
    `Conv2DBackpropInput wasm = cpu: x [${c.x}] filter [${c.filter}] ` +
    `strides ${c.strides} pad ${JSON.stringify(c.pad)}`;
  Deno.test(name, async () => {
    const filter = seeded(c.filter, 5);
    const inputShape = c.x as [number, number, number, number];
    const outShape = tf.backend_util.computeConv2DInfo(
      inputShape,
      c.filter as [number, number, number, number],
      c.strides,
      1,
      c.pad,
    ).outShape;
    const dy = seeded(outShape, 7);
    await assertWasmMatchesCpu(
      name,
      () =>
        tf.engine().runKernel("Conv2DBackpropInput", {
          dy: toTensor(dy),
          filter: toTensor(filter),
        }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: "NHWC",
          inputShape,
        }) as tf.Tensor,
      TOLERANCE,
    );
  });
}
