import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { describeBackend, initBackend } from "../init.ts";
import { type Blas, blasCandidates, openBlas } from "./blas.ts";
import { nativeConv2DConfig } from "./conv.ts";
import { CONV_CASES, type ConvCase } from "./_conv_cases_test_util.ts";
import {
  disableNativeKernels,
  DNNL_KERNEL_NAMES,
  enableNativeKernels,
  isNativeKernel,
  loadNativeBlas,
  NATIVE_KERNEL_NAMES,
  nativeKernelsEnabled,
} from "./register.ts";

// Parity tolerance: |native - cpu| <= TOLERANCE * max(1, max |cpu|), per
// output. Sums here run over at most a few hundred float32 products.
const TOLERANCE = 1e-4;

const { blas, status } = loadNativeBlas();
const ignore = !blas;
if (ignore) console.warn(`native parity tests skipped: ${status.reason}`);

interface Host {
  values: Float32Array;
  shape: number[];
}

function seeded(shape: number[], seed: number): Host {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = ((state >>> 0) / 4294967296) * 2 - 1;
  }
  return { values, shape };
}

// Runs `compute` on the given backend with fresh tensors from `inputs` and
// returns every output's values.
async function runOn(
  backend: "cpu" | "wasm",
  inputs: Host[],
  compute: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<Host[]> {
  await tf.setBackend(backend);
  const tensors = inputs.map((h) => tf.tensor(h.values, h.shape));
  const result = compute(...tensors);
  const outputs = Array.isArray(result) ? result : [result];
  const hosts: Host[] = [];
  for (const out of outputs) {
    hosts.push({ values: await out.data() as Float32Array, shape: out.shape });
  }
  tf.dispose([...tensors, ...outputs]);
  return hosts;
}

async function assertParity(
  label: string,
  inputs: Host[],
  compute: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  reference = compute,
): Promise<void> {
  const expected = await runOn("cpu", inputs, reference);
  const actual = await runOn("wasm", inputs, compute);
  assertEquals(actual.length, expected.length, label);
  for (let o = 0; o < expected.length; o++) {
    assertEquals(actual[o].shape, expected[o].shape, `${label} output ${o}`);
    let scale = 1;
    for (const v of expected[o].values) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < expected[o].values.length; i++) {
      const diff = Math.abs(actual[o].values[i] - expected[o].values[i]);
      if (!(diff <= worst)) worst = diff;
    }
    assert(
      worst <= TOLERANCE * scale,
      `${label} output ${o}: max |native - cpu| = ${worst}, allowed ${
        TOLERANCE * scale
      }`,
    );
  }
}

async function withNative(
  body: () => Promise<void> | void,
  using: Blas = blas!,
): Promise<void> {
  await tf.setBackend("wasm");
  enableNativeKernels(using);
  try {
    await body();
  } finally {
    disableNativeKernels();
  }
}

Deno.test({
  name: "native sgemm matches a plain loop on a wasm memory",
  ignore,
  fn() {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const heap = new Float32Array(memory.buffer);
    const a = seeded([3, 4], 1).values;
    const b = seeded([4, 2], 2).values;
    heap.set(a, 0);
    heap.set(b, 16);
    // C sits at float 32; transB reads b as its own [2, 4] transpose.
    blas!.sgemm(
      memory.buffer,
      false,
      false,
      3,
      2,
      4,
      1,
      0,
      4,
      64,
      2,
      0,
      128,
      2,
    );
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 2; j++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += a[i * 4 + k] * b[k * 2 + j];
        assert(Math.abs(heap[32 + i * 2 + j] - sum) < 1e-5, `C[${i},${j}]`);
      }
    }
  },
});

async function assertMatMulCases(): Promise<void> {
  const cases: [number[], number[], boolean, boolean][] = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[4, 5, 7], [7, 3], false, false],
    [[4, 7, 5], [7, 3], true, false],
    [[5, 7], [4, 7, 3], false, false],
    [[2, 3, 5, 7], [2, 3, 3, 7], false, true],
    [[2, 5, 0], [2, 0, 3], false, false],
  ];
  for (const [aShape, bShape, transposeA, transposeB] of cases) {
    await assertParity(
      `matMul [${aShape}]${transposeA ? "ᵀ" : ""} x [${bShape}]${
        transposeB ? "ᵀ" : ""
      }`,
      [seeded(aShape, 3), seeded(bShape, 4)],
      (a, b) => tf.matMul(a, b, transposeA, transposeB),
    );
  }
  // Outer dimensions that broadcast both ways. tfjs' cpu (and stock
  // wasm) kernels pair batches by index modulo size, which is wrong here,
  // so the reference broadcasts the operands explicitly first.
  const broadcasting: [number[], number[], number[], boolean][] = [
    [[2, 1, 7, 5], [1, 3, 7, 6], [2, 3], true],
    [[3, 1, 5, 7], [4, 7, 6], [3, 4], false],
  ];
  for (const [aShape, bShape, outer, transposeA] of broadcasting) {
    await assertParity(
      `matMul [${aShape}] x [${bShape}] broadcast to [${outer}]`,
      [seeded(aShape, 5), seeded(bShape, 6)],
      (a, b) => tf.matMul(a, b, transposeA),
      (a, b) =>
        tf.matMul(
          tf.broadcastTo(a, [...outer, ...aShape.slice(-2)]),
          tf.broadcastTo(b, [...outer, ...bShape.slice(-2)]),
          transposeA,
        ),
    );
  }
}

Deno.test({
  name: "native BatchMatMul matches cpu for every transpose and broadcast",
  ignore,
  async fn() {
    await withNative(assertMatMulCases);
  },
});

Deno.test({
  name: "native _FusedMatMul matches cpu with bias, activations and grads",
  ignore,
  async fn() {
    await withNative(async () => {
      const activations = ["linear", "relu", "elu", "relu6", "sigmoid"];
      for (const activation of activations) {
        await assertParity(
          `fused matMul ${activation}`,
          [seeded([3, 4, 6], 5), seeded([6, 5], 6), seeded([5], 7)],
          (a, b, bias) =>
            tf.fused.matMul({
              a,
              b,
              bias,
              activation: activation as tf.fused.Activation,
            }),
        );
      }
      await assertParity(
        "fused matMul, bias broadcast over rows",
        [seeded([2, 4, 6], 8), seeded([2, 5, 6], 9), seeded([4, 1], 10)],
        (a, b, bias) =>
          tf.fused.matMul({ a, b, bias, transposeB: true, activation: "relu" }),
      );
      await assertParity(
        "dense layer gradients",
        [
          seeded([6, 8], 11),
          seeded([8, 5], 12),
          seeded([5], 13),
          seeded(
            [6, 5],
            14,
          ),
        ],
        (x, w, bias, dy) => {
          const grads = tf.grads((x, w, bias) =>
            tf.fused.matMul({ a: x, b: w, bias, activation: "relu" })
          );
          return grads([x, w, bias], dy);
        },
      );
    });
  },
});

async function assertConvParity(c: ConvCase): Promise<void> {
  const label = `conv [${c.x}] * [${c.filter}] s${c.strides} ${c.pad}`;
  const dilation = c.dilation ?? 1;
  await assertParity(
    label,
    [seeded(c.x, 21), seeded(c.filter, 22)],
    (x, f) =>
      tf.conv2d(
        x as tf.Tensor4D,
        f as tf.Tensor4D,
        c.strides,
        c.pad,
        "NHWC",
        dilation,
      ),
  );
  if (dilation !== 1) return;
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number],
    c.filter as [number, number, number, number],
    c.strides,
    1,
    c.pad,
  );
  const dyShape = [
    info.batchSize,
    info.outHeight,
    info.outWidth,
    info.outChannels,
  ];
  await assertParity(
    `${label} gradients`,
    [seeded(c.x, 23), seeded(c.filter, 24), seeded(dyShape, 25)],
    (x, f, dy) =>
      tf.grads((x, f) =>
        tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad)
      )([x, f], dy),
  );
}

Deno.test({
  name: "native Conv2D and its gradients match cpu (strides, padding)",
  ignore,
  async fn() {
    await withNative(async () => {
      for (const c of CONV_CASES) await assertConvParity(c);
    });
  },
});

Deno.test({
  name: "the helper thread's share of conv and matmul sgemms matches cpu",
  ignore,
  async fn() {
    // Every call is shared, however small, so the small cases above take
    // the two-thread path too; the larger ones are ResNet-like layers.
    const shared = openBlas({
      threads: 1,
      helperThread: true,
      minSharedFlops: 0,
    });
    const sharing = shared.blas;
    if (!sharing) throw new Error(`no native BLAS: ${shared.status.reason}`);
    try {
      assert(shared.status.helperThread, "the helper thread did not start");
      await withNative(async () => {
        await assertMatMulCases();
        const cases: ConvCase[] = [
          ...CONV_CASES,
          {
            x: [4, 16, 16, 16],
            filter: [3, 3, 16, 16],
            strides: 1,
            pad: "same",
          },
          {
            x: [4, 16, 16, 16],
            filter: [3, 3, 16, 32],
            strides: 2,
            pad: "same",
          },
        ];
        for (const c of cases) await assertConvParity(c);
      }, sharing);
      assert(sharing.helperThread, "the helper thread stopped");
    } finally {
      sharing.stopHelper();
    }
  },
});

Deno.test({
  name: "native forward conv matches cpu where wasm's own would be chosen",
  ignore,
  async fn() {
    await withNative(async () => {
      // Without a kernel to defer to, the native forward path takes every
      // geometry, including the strided and few-channel ones.
      const kept = tf.getKernel("Conv2D", "wasm")!;
      tf.unregisterKernel("Conv2D", "wasm");
      tf.registerKernel(nativeConv2DConfig(blas!, undefined));
      try {
        for (const c of CONV_CASES) {
          const dilation = c.dilation ?? 1;
          await assertParity(
            `forced native conv [${c.x}] * [${c.filter}] s${c.strides} ${c.pad}`,
            [seeded(c.x, 26), seeded(c.filter, 27)],
            (x, f) =>
              tf.conv2d(
                x as tf.Tensor4D,
                f as tf.Tensor4D,
                c.strides,
                c.pad,
                "NHWC",
                dilation,
              ),
          );
        }
      } finally {
        tf.unregisterKernel("Conv2D", "wasm");
        tf.registerKernel(kept);
      }
    });
  },
});

Deno.test({
  name: "native FusedConv2D matches cpu with bias and relu, and its gradients",
  ignore,
  async fn() {
    await withNative(async () => {
      const inputs = [
        seeded([2, 8, 8, 3], 31),
        seeded([3, 3, 3, 4], 32),
        seeded([4], 33),
        seeded([2, 4, 4, 4], 34),
      ];
      const fused = (x: tf.Tensor, f: tf.Tensor, bias: tf.Tensor) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: f as tf.Tensor4D,
          strides: 2,
          pad: "same",
          bias,
          activation: "relu",
        });
      await assertParity("fused conv", inputs.slice(0, 3), fused);
      await assertParity(
        "fused conv gradients",
        inputs,
        (x, f, bias, dy) => tf.grads(fused)([x, f, bias], dy),
      );
    });
  },
});

Deno.test({
  name: "native conv with unequal strides falls back to the wasm kernel",
  ignore,
  async fn() {
    await withNative(async () => {
      await assertParity(
        "conv strides [1, 2]",
        [seeded([1, 6, 6, 2], 41), seeded([3, 3, 2, 3], 42)],
        (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, [1, 2], "same"),
      );
    });
  },
});

Deno.test({
  name: "native kernels free their scratch: tensors and heap records stay flat",
  ignore,
  async fn() {
    await withNative(() => {
      const x = tf.tensor(seeded([2, 8, 8, 9], 51).values, [2, 8, 8, 9]);
      const f = tf.tensor(seeded([3, 3, 9, 4], 52).values, [3, 3, 9, 4]);
      const w = tf.tensor(seeded([4, 5], 53).values, [4, 5]);
      const step = () =>
        tf.tidy(() => {
          const g = tf.grads((x, f, w) =>
            tf.matMul(
              tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "same")
                .reshape([128, 4]),
              w,
            ).sum()
          )([x, f, w]);
          return g[0].sum().add(g[1].sum()).add(g[2].sum());
        }).dispose();
      step();
      const tensors = tf.memory().numTensors;
      const records = tf.backend().numDataIds();
      for (let i = 0; i < 5; i++) step();
      assertEquals(tf.memory().numTensors, tensors);
      assertEquals(tf.backend().numDataIds(), records);
      tf.dispose([x, f, w]);
    });
  },
});

Deno.test("initBackend native off keeps the pure wasm kernels", async () => {
  const info = await initBackend({ backend: "wasm", native: "off" });
  assertEquals(info.native, undefined);
  assertEquals(info.nativeOff, "native: off");
  assertEquals(nativeKernelsEnabled(), []);
  assertStringIncludes(describeBackend(info), "native off");
  for (const name of NATIVE_KERNEL_NAMES) {
    assertEquals(isNativeKernel(name), false, `${name} is the wasm kernel`);
  }
});

Deno.test({
  name: "initBackend native auto replaces the kernels, off restores them",
  ignore,
  async fn() {
    const off = await initBackend({ backend: "wasm", native: "off" });
    assertEquals(off.native, undefined);
    const originals = NATIVE_KERNEL_NAMES.map((n) => tf.getKernel(n, "wasm"));
    const on = await initBackend({ backend: "wasm" });
    assertStringIncludes(on.native ?? "", status.library!);
    // the native kernels, and any oneDNN adds of its own
    const enabled = nativeKernelsEnabled();
    assertEquals(enabled.slice(0, NATIVE_KERNEL_NAMES.length), [
      ...NATIVE_KERNEL_NAMES,
    ]);
    for (const name of enabled.slice(NATIVE_KERNEL_NAMES.length)) {
      assert(DNNL_KERNEL_NAMES.includes(name), `${name} is oneDNN's`);
    }
    for (const [i, name] of NATIVE_KERNEL_NAMES.entries()) {
      assert(isNativeKernel(name), `${name} replaced`);
      assert(tf.getKernel(name, "wasm") !== originals[i], `${name} replaced`);
    }
    await initBackend({ backend: "wasm", native: "off" });
    for (const [i, name] of NATIVE_KERNEL_NAMES.entries()) {
      assertEquals(tf.getKernel(name, "wasm"), originals[i], `${name} back`);
    }
  },
});

Deno.test("openBlas reports a missing library instead of throwing", () => {
  const result = openBlas({ candidates: ["/nonexistent/libopenblas.so.0"] });
  assertEquals(result.blas, undefined);
  assertEquals(result.status.available, false);
  assertStringIncludes(
    result.status.reason ?? "",
    Deno.permissions.querySync({ name: "ffi" }).state === "granted"
      ? "/nonexistent/libopenblas.so.0"
      : "--allow-ffi",
  );
});

Deno.test("blasCandidates puts OPENBLAS_LIB first and knows each OS", () => {
  assertEquals(
    blasCandidates("linux", "/opt/x/libopenblas.so")[0],
    "/opt/x/libopenblas.so",
  );
  assert(
    blasCandidates("linux", undefined).some((p) =>
      p.includes("openblas-openmp")
    ),
  );
  assertStringIncludes(blasCandidates("darwin", undefined)[0], "Accelerate");
});
