// Parity of the oneDNN convolution kernels with the cpu backend (values and
// gradients), their fallbacks, their bad-shape errors and their bookkeeping.
// Skipped, with the reason, where libdnnl (Debian: libdnnl2) is absent.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { describeBackend, initBackend } from "../init.ts";
import { type Dnnl, dnnlCandidates, openDnnl } from "./dnnl.ts";
import { convFlops, MIN_SHARED_FLOPS, threadsFor } from "./_dnnl_kernel.ts";
import { planConv } from "./_conv_plan.ts";
import { CONV_CASES, type ConvCase } from "./_conv_cases_test_util.ts";
import {
  assertAllClose,
  onBackend,
  seeded,
  toTensor,
} from "../wasm_kernels/_test_util.ts";
import {
  disableNativeKernels,
  DNNL_KERNEL_NAMES,
  dnnlConvChoices,
  dnnlKernelsEnabled,
  enableNativeKernels,
  isNativeKernel,
  loadNativeBlas,
  loadNativeDnnl,
} from "./register.ts";

const { dnnl, status } = loadNativeDnnl();
const ignore = !dnnl;
if (ignore) console.warn(`oneDNN parity tests skipped: ${status.reason}`);

type Compute = (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

// Runs `compute` on seeded inputs of `shapes` on cpu and on wasm with
// oneDNN's kernels on top (over the sgemm ones when a BLAS loads, else over
// wasm's), and compares every output: |oneDNN - cpu| <= 1e-4 * max(1,
// max |cpu|).
async function assertParity(
  label: string,
  shapes: number[][],
  compute: Compute,
): Promise<void> {
  const inputs = shapes.map((shape, i) => seeded(shape, 101 + i));
  const run = () => compute(...inputs.map(toTensor));
  const expected = await onBackend("cpu", run);
  await tf.setBackend("wasm");
  enableNativeKernels(loadNativeBlas().blas, undefined, { dnnl });
  try {
    const actual = await onBackend("wasm", run);
    assertEquals(actual.length, expected.length, label);
    expected.forEach((e, o) => {
      const scale = e.values.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      assertAllClose(
        actual[o],
        e,
        { rtol: 0, atol: 1e-4 * scale },
        `${label} output ${o}`,
      );
    });
  } finally {
    disableNativeKernels();
  }
}

// The shared cases and a ResNet-like strided one with 16+ channels.
const CASES: ConvCase[] = [
  ...CONV_CASES,
  { x: [2, 10, 10, 16], filter: [3, 3, 16, 32], strides: 2, pad: "same" },
];

const caseLabel = (c: ConvCase) =>
  `x [${c.x}] filter [${c.filter}] stride ${c.strides} pad ${c.pad}${
    c.dilation ? ` dilation ${c.dilation}` : ""
  }`;

Deno.test({
  name: "oneDNN Conv2D and both gradients match cpu",
  ignore,
  async fn() {
    for (const c of CASES) {
      const conv = (x: tf.Tensor, f: tf.Tensor) =>
        tf.conv2d(
          x as tf.Tensor4D,
          f as tf.Tensor4D,
          c.strides,
          c.pad,
          "NHWC",
          c.dilation ?? 1,
        );
      await assertParity(`conv ${caseLabel(c)}`, [c.x, c.filter], conv);
      // tfjs has no gradient for dilated convolutions.
      if (c.dilation) continue;
      await assertParity(
        `conv gradients ${caseLabel(c)}`,
        [c.x, c.filter],
        (x, f) => tf.grads((x, f) => conv(x, f).square().sum())([x, f]),
      );
    }
    // Every case ran on oneDNN, none fell back.
    const choices = dnnlConvChoices(dnnl!);
    const refused = choices.filter(([, impl]) => impl.startsWith("refused"));
    assertEquals(refused, [], "oneDNN refused a shape");
    for (const kind of ["forward", "backwardData", "backwardWeights"]) {
      assert(
        choices.some(([key]) => key.startsWith(`${kind},`)),
        `no ${kind} primitive was made`,
      );
    }
  },
});

for (
  const activation of [
    "linear",
    "relu",
    "relu6",
    "elu",
    "sigmoid",
    "leakyrelu",
    "prelu",
  ] as const
) {
  Deno.test({
    name: `oneDNN FusedConv2D with bias and ${activation} matches cpu`,
    ignore,
    async fn() {
      for (const biasShape of [[6], [1]]) {
        const fused = (
          x: tf.Tensor,
          f: tf.Tensor,
          b: tf.Tensor,
          p: tf.Tensor,
        ) =>
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: f as tf.Tensor4D,
            strides: 2,
            pad: "same",
            bias: b,
            activation,
            preluActivationWeights: activation === "prelu" ? p : undefined,
            leakyreluAlpha: 0.3,
          });
        await assertParity(
          `fused ${activation} bias [${biasShape}]`,
          [[2, 9, 9, 8], [3, 3, 8, 6], biasShape, [6]],
          fused,
        );
      }
      if (activation !== "linear" && activation !== "prelu") {
        // The per-channel case ran with the activation as oneDNN's post-op.
        assert(
          dnnlConvChoices(dnnl!).some(([key, impl]) =>
            key.includes(`,bias,${activation}:`) && !impl.startsWith("refused")
          ),
          `no fused ${activation} primitive`,
        );
      }
    },
  });
}

Deno.test({
  name: "oneDNN FusedConv2D gradients (bias, relu) match cpu",
  ignore,
  async fn() {
    const fused = (x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) =>
      tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: f as tf.Tensor4D,
        strides: 1,
        pad: "same",
        bias: b,
        activation: "relu",
      });
    await assertParity(
      "fused conv gradients",
      [[2, 8, 8, 4], [3, 3, 4, 5], [5], [2, 8, 8, 5]],
      (x, f, b, dy) => tf.grads(fused)([x, f, b], dy),
    );
  },
});

Deno.test({
  name: "oneDNN kernels fall back for what they do not take (unequal strides)",
  ignore,
  async fn() {
    await assertParity(
      "conv strides [1, 2]",
      [[1, 6, 6, 2], [3, 3, 2, 3]],
      (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, [1, 2], "same"),
    );
  },
});

Deno.test({
  name: "oneDNN kernels reject bad shapes with a clear error",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(undefined, [], { dnnl });
    try {
      const x = tf.zeros([1, 5, 5, 3]);
      const f = tf.zeros([3, 3, 4, 2]);
      const dy = tf.zeros([1, 4, 4, 2]);
      let message = "";
      try {
        tf.engine().runKernel("Conv2D", { x, filter: f }, {
          strides: 1,
          pad: "same",
          dataFormat: "NHWC",
          dilations: 1,
        });
      } catch (error) {
        message = (error as Error).message;
      }
      assertStringIncludes(message, "3 channels");
      message = "";
      try {
        tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
          strides: 1,
          pad: "same",
          dataFormat: "NHWC",
          filterShape: [3, 3, 3, 2],
        });
      } catch (error) {
        message = (error as Error).message;
      }
      assertStringIncludes(
        message,
        "dy has shape [1,4,4,2], expected [1,5,5,2]",
      );
      tf.dispose([x, f, dy]);
    } finally {
      disableNativeKernels();
    }
  },
});

Deno.test({
  name: "oneDNN kernels leave no tensors or heap records behind",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    enableNativeKernels(undefined, [], { dnnl });
    try {
      const x = toTensor(seeded([2, 8, 8, 9], 51));
      const f = toTensor(seeded([3, 3, 9, 4], 52));
      const b = toTensor(seeded([4], 53));
      const step = () =>
        tf.tidy(() => {
          const g = tf.grads((x, f, b) =>
            tf.fused.conv2d({
              x: x as tf.Tensor4D,
              filter: f as tf.Tensor4D,
              bias: b,
              strides: 2,
              pad: "same",
              activation: "relu",
            }).sum()
          )([x, f, b]);
          return g[0].sum().add(g[1].sum()).add(g[2].sum());
        }).dispose();
      step();
      const tensors = tf.memory().numTensors;
      const records = tf.backend().numDataIds();
      for (let i = 0; i < 5; i++) step();
      assertEquals(tf.memory().numTensors, tensors);
      assertEquals(tf.backend().numDataIds(), records);
      tf.dispose([x, f, b]);
    } finally {
      disableNativeKernels();
    }
  },
});

Deno.test({
  name: "initBackend puts oneDNN on the conv and matmul kernels and says so",
  ignore,
  async fn() {
    const info = await initBackend({ backend: "wasm" });
    try {
      assertStringIncludes(info.dnnl ?? "", status.library!);
      assertEquals(
        dnnlKernelsEnabled().toSorted(),
        DNNL_KERNEL_NAMES.toSorted(),
      );
      for (const name of DNNL_KERNEL_NAMES) assert(isNativeKernel(name), name);
      assertStringIncludes(describeBackend(info), "oneDNN /");
    } finally {
      await initBackend({ backend: "wasm", native: "off" });
    }
    assertEquals(dnnlKernelsEnabled(), []);
  },
});

Deno.test("oneDNN threads: one below MIN_SHARED_FLOPS, else per kind", () => {
  const fake = { threads: 2, filterGradientThreads: 1 } as Dnnl;
  const plan = (n: number) => {
    const p = planConv(
      [n, 32, 32, 16],
      [3, 3, 16, 16],
      1,
      1,
      "same",
      undefined,
      "NHWC",
    );
    if (typeof p === "string") throw new Error(p);
    return p;
  };
  assert(convFlops(plan(1)) < MIN_SHARED_FLOPS);
  assert(convFlops(plan(64)) >= MIN_SHARED_FLOPS);
  assertEquals(threadsFor(fake, "forward", plan(1)), 1);
  assertEquals(threadsFor(fake, "forward", plan(64)), 2);
  assertEquals(threadsFor(fake, "backwardData", plan(64)), 2);
  assertEquals(threadsFor(fake, "backwardWeights", plan(64)), 1);
});

// Runs `work` with VITKD_DNNL set to `value` (unset for undefined), then
// puts the caller's setting back: the tests of the loader must not depend on
// how the suite was started.
function withSwitch<T>(value: string | undefined, work: () => T): T {
  const env = Deno.permissions.querySync({ name: "env" }).state === "granted";
  const before = env ? Deno.env.get("VITKD_DNNL") : undefined;
  const set = (v: string | undefined) =>
    v === undefined
      ? Deno.env.delete("VITKD_DNNL")
      : Deno.env.set("VITKD_DNNL", v);
  if (env) set(value);
  try {
    return work();
  } finally {
    if (env) set(before);
  }
}

Deno.test("openDnnl reports a missing library instead of throwing", () => {
  const result = withSwitch(
    undefined,
    () => openDnnl({ candidates: ["/nonexistent/libdnnl.so.2"] }),
  );
  assertEquals(result.dnnl, undefined);
  assertEquals(result.status.available, false);
  assertStringIncludes(
    result.status.reason ?? "",
    Deno.permissions.querySync({ name: "ffi" }).state === "granted"
      ? "/nonexistent/libdnnl.so.2"
      : "--allow-ffi",
  );
});

Deno.test("openDnnl reports a library without oneDNN's functions", {
  ignore: Deno.permissions.querySync({ name: "ffi" }).state !== "granted" ||
    !loadNativeBlas().status.library,
}, () => {
  // OpenBLAS opens but lacks dnnl_version: the reason names the library.
  const library = loadNativeBlas().status.library!;
  const result = withSwitch(
    undefined,
    () => openDnnl({ candidates: [library] }),
  );
  assertEquals(result.dnnl, undefined);
  assertStringIncludes(result.status.reason ?? "", library);
});

Deno.test("VITKD_DNNL=0 keeps oneDNN off", {
  ignore: Deno.permissions.querySync({ name: "env" }).state !== "granted",
}, () => {
  const result = withSwitch("0", () => openDnnl());
  assertEquals(result.dnnl, undefined);
  assertEquals(result.status.reason, "VITKD_DNNL=0");
});

Deno.test("dnnlCandidates puts DNNL_LIB first and knows each OS", () => {
  assertEquals(
    dnnlCandidates("linux", "/opt/x/libdnnl.so")[0],
    "/opt/x/libdnnl.so",
  );
  assert(
    dnnlCandidates("linux", undefined).includes(
      "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
    ),
  );
  assertStringIncludes(dnnlCandidates("darwin", undefined)[0], "dylib");
});
