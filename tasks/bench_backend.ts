/**
 * Backend benchmark: matmul GFLOP/s (square 256/512/1024 and transposed
 * cases) and one conv-net and one transformer-block training step (forward,
 * backward, Adam) per backend: cpu, wasm with stock kernels, wasm with the
 * vitkd training kernels, wasm with native BLAS (when one loads), webgpu.
 *
 *   deno task bench:backend [--quick]
 *
 * The cpu backend is slow: it gets the small sizes and a smaller batch; steps
 * are compared per image. Prints the machine, the adapter and tfjs's flags.
 */
import * as tf from "@tensorflow/tfjs";
import { parseTaskArgs } from "./_cli.ts";
import { machineLine } from "./_machine.ts";
import { describeBackend, initBackend } from "@vitkd/backend";
import { isNativeKernel } from "@vitkd/backend/native";
import { conv2dBackpropFilterConfig } from "@vitkd/backend/kernels";

const { args } = parseTaskArgs({
  command: "deno task bench:backend",
  summary:
    `Matmul GFLOP/s and one conv-net and one transformer-block training step per
backend (cpu, wasm stock, wasm with the vitkd kernels, wasm with native BLAS,
webgpu).`,
  flags: {
    quick: { help: "shorter timing budget per measurement (150 ms, not 600)" },
  },
});
const budgetMs = args.quick ? 150 : 600;

interface Target {
  label: string;
  setup: () => Promise<string | undefined>;
  matmulSizes: number[];
  batch: number;
  /** Timed training steps at least (after one warm-up). */
  stepCalls: number;
}

async function adapterName(): Promise<string> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return "none";
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return `${info.description || info.vendor}${
    info.isFallbackAdapter ? " (software fallback)" : ""
  }`;
}

/**
 * Runs `step` (which must finish its work) at least `minCalls` times and
 * until the budget is spent; the median call time resists the load spikes of
 * a shared machine.
 */
async function timePerCall(
  step: () => Promise<void>,
  minCalls: number,
): Promise<number> {
  await step(); // warm-up: shader compile, XNNPACK operator creation
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minCalls || performance.now() - start < budgetMs) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function matmulGflops(n: number, transposeB: boolean): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  const ms = await timePerCall(async () => {
    const c = tf.matMul(a, b, false, transposeB);
    await c.data();
    c.dispose();
  }, 3);
  tf.dispose([a, b]);
  return (2 * n ** 3) / (ms * 1e6);
}

type Params = Record<string, tf.Variable>;

/** A training problem: its variables, its loss and the tensors it holds. */
interface Problem {
  params: Params;
  loss: () => tf.Scalar;
  held: tf.Tensor[];
}

function oneHotLabels(batch: number): tf.Tensor {
  return tf.tidy(() =>
    tf.oneHot(
      tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), "int32"),
      10,
    )
  );
}

function variables(shapes: Record<string, number[]>): Params {
  let seed = 10;
  return Object.fromEntries(
    Object.entries(shapes).map(([name, shape]) => [
      name,
      // tidy: tf.variable copies its initial value, which would stay alive.
      tf.tidy(() =>
        tf.variable(
          name.startsWith("g")
            ? tf.ones(shape)
            : tf.randomNormal(shape, 0, 0.1, "float32", seed++),
        )
      ),
    ]),
  );
}

/** A small ResNet-style net: 3 conv + batch norm + relu stages on 32x32x3. */
function convNet(batch: number): Problem {
  const params = variables({
    w1: [3, 3, 3, 16],
    g1: [16],
    b1: [16],
    w2: [3, 3, 16, 32],
    g2: [32],
    b2: [32],
    w3: [3, 3, 32, 64],
    g3: [64],
    b3: [64],
    dense: [64, 10],
  });
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 3);
  const labels = oneHotLabels(batch);
  const stage = (h: tf.Tensor, i: number, stride: number): tf.Tensor => {
    const c = tf.conv2d(
      h as tf.Tensor4D,
      params[`w${i}`] as tf.Tensor4D,
      stride,
      "same",
    );
    const { mean, variance } = tf.moments(c, [0, 1, 2]);
    return tf.relu(
      tf.batchNorm(c, mean, variance, params[`b${i}`], params[`g${i}`], 1e-3),
    );
  };
  return {
    params,
    held: [x, labels],
    loss: () => {
      let h = stage(x, 1, 1);
      h = stage(h, 2, 2);
      h = stage(h, 3, 2);
      const logits = tf.matMul(tf.mean(h, [1, 2]), params.dense);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    },
  };
}

/** One pre-norm ViT block: 65 tokens of width 64, 4 heads, MLP 128, GELU. */
function transformerBlock(batch: number): Problem {
  const tokens = 65, dim = 64, heads = 4, hidden = 128, headDim = dim / heads;
  const params = variables({
    gln1: [dim],
    bln1: [dim],
    qkv: [dim, 3 * dim],
    proj: [dim, dim],
    gln2: [dim],
    bln2: [dim],
    fc1: [dim, hidden],
    fc2: [hidden, dim],
    head: [dim, 10],
  });
  const x = tf.randomNormal([batch, tokens, dim], 0, 1, "float32", 4);
  const labels = oneHotLabels(batch);
  const layerNorm = (h: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const { mean, variance } = tf.moments(h, -1, true);
    return tf.add(
      tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-6))), g),
      b,
    );
  };
  return {
    params,
    held: [x, labels],
    loss: () => {
      const flat = layerNorm(x, params.gln1, params.bln1).reshape([
        batch * tokens,
        dim,
      ]);
      const [q, k, v] = tf.unstack(
        tf.matMul(flat, params.qkv).reshape([batch, tokens, 3, heads, headDim])
          .transpose([2, 0, 3, 1, 4]),
      );
      const attention = tf.dropout(
        tf.softmax(
          tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headDim)),
        ),
        0.1,
      );
      const mixed = tf.matMul(attention, v).transpose([0, 2, 1, 3]).reshape([
        batch * tokens,
        dim,
      ]);
      const h = tf.add(
        x,
        tf.matMul(mixed, params.proj).reshape([batch, tokens, dim]),
      );
      const mlpIn = layerNorm(h, params.gln2, params.bln2).reshape([
        batch * tokens,
        dim,
      ]);
      const act = tf.matMul(mlpIn, params.fc1);
      const gelu = tf.mul(
        tf.mul(act, 0.5),
        tf.add(1, tf.erf(tf.div(act, Math.SQRT2))),
      );
      const out = tf.add(
        h,
        tf.matMul(gelu, params.fc2).reshape([batch, tokens, dim]),
      );
      return tf.losses.softmaxCrossEntropy(
        labels,
        tf.matMul(tf.mean(out, 1), params.head),
      ) as tf.Scalar;
    },
  };
}

async function stepMs(
  build: (batch: number) => Problem,
  batch: number,
  calls: number,
): Promise<number> {
  const { params, loss, held } = build(batch);
  const optimizer = tf.train.adam(1e-3);
  const ms = await timePerCall(async () => {
    const value = optimizer.minimize(loss, true, Object.values(params))!;
    await value.data();
    value.dispose();
  }, calls);
  optimizer.dispose();
  tf.dispose([...held, ...Object.values(params)]);
  return ms;
}

const targets: Target[] = [
  {
    label: "cpu",
    setup: async () => describeBackend(await initBackend({ backend: "cpu" })),
    matmulSizes: [256, 512],
    batch: 2,
    stepCalls: 1,
  },
  {
    label: "wasm stock",
    setup: async () => {
      await tf.setBackend("wasm");
      await tf.ready();
      // The only kernel stock wasm lacks for these steps; everything else stock.
      if (!tf.getKernel("Conv2DBackpropFilter", "wasm")) {
        tf.registerKernel(conv2dBackpropFilterConfig);
      }
      return "wasm, stock tfjs kernels + Conv2DBackpropFilter";
    },
    matmulSizes: [256, 512, 1024],
    batch: 32,
    stepCalls: 3,
  },
  {
    label: "wasm vitkd",
    setup: async () =>
      describeBackend(await initBackend({ backend: "wasm", native: "off" })),
    matmulSizes: [256, 512, 1024],
    batch: 32,
    stepCalls: 3,
  },
  {
    label: "wasm native",
    setup: async () => {
      const info = await initBackend({ backend: "wasm", native: "auto" });
      return isNativeKernel("BatchMatMul") ? describeBackend(info) : undefined;
    },
    matmulSizes: [256, 512, 1024],
    batch: 32,
    stepCalls: 3,
  },
  {
    label: "webgpu",
    setup: async () =>
      (await adapterName()) === "none"
        ? undefined
        : describeBackend(await initBackend({ backend: "webgpu" })),
    matmulSizes: [256, 512, 1024],
    // Usually Mesa's software adapter here: a smaller batch keeps it short.
    batch: 8,
    stepCalls: 2,
  },
];

console.log(machineLine());
console.log(`webgpu adapter: ${await adapterName()}`);
console.log(
  `timing: median call, >= ${budgetMs} ms per figure after one warm-up call\n`,
);

const header = [
  "backend",
  "mm256",
  "mm512",
  "mm1024",
  "mm512·Bᵀ",
  "conv step",
  "conv img/s",
  "vit step",
  "vit img/s",
];
const rows: string[][] = [];
for (const target of targets) {
  const targetStart = performance.now();
  const described = await target.setup();
  if (!described) {
    console.log(`${target.label}: skipped (not available here)`);
    continue;
  }
  console.log(`${target.label}: ${described}`);
  const gflops = new Map<number, string>();
  for (const n of target.matmulSizes) {
    gflops.set(n, (await matmulGflops(n, false)).toFixed(2));
  }
  const transposed = (await matmulGflops(512, true)).toFixed(2);
  const conv = await stepMs(convNet, target.batch, target.stepCalls);
  const vit = await stepMs(transformerBlock, target.batch, target.stepCalls);
  rows.push([
    `${target.label} (batch ${target.batch})`,
    gflops.get(256) ?? "-",
    gflops.get(512) ?? "-",
    gflops.get(1024) ?? "-",
    transposed,
    `${conv.toFixed(1)} ms`,
    (target.batch / conv * 1000).toFixed(0),
    `${vit.toFixed(1)} ms`,
    (target.batch / vit * 1000).toFixed(0),
  ]);
  console.log(
    `  took ${((performance.now() - targetStart) / 1000).toFixed(1)} s, ` +
      `tensors alive: ${tf.memory().numTensors}`,
  );
}

console.log("\nmatmul in GFLOP/s; a step is forward + backward + Adam");
const widths = header.map((h, i) =>
  Math.max(h.length, ...rows.map((r) => r[i].length))
);
const line = (cells: string[]) =>
  `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const row of rows) console.log(line(row));
console.log(`\ntfjs flags: ${JSON.stringify(tf.env().features)}`);
