/**
 * Convolution benchmark: oneDNN (through FFI: as the kernels run it, 2
 * threads for the forward and input gradient and 1 for the filter gradient;
 * then 2 threads for all, and 1 for all) against a hand-written direct
 * convolution (docs/measurements/direct_conv.c, AVX-512, 2 OpenMP threads,
 * forward only; compiled with `cc` when there is one), the
 * current native path (sgemm over filter taps with the helper thread, or
 * XNNPACK where that measured faster) and pure wasm, for ResNet-8's and
 * RedNet-8's convolution shapes: forward, input gradient and filter
 * gradient, interleaved round by round (every path of one case runs back to
 * back, so load swings hit all of them).
 *
 *   deno run -A tasks/bench_conv.ts [--batch 64] [--rounds 3] [--seconds 0.4]
 *     [--paths wasm,sgemm,direct,onednn,onednn-2t,onednn-1t]
 */
import { parseTaskArgs } from "./_cli.ts";
import { loadAverage, machineLine } from "./_machine.ts";
import { openDirectConv } from "./_direct_conv.ts";
import * as tf from "@tensorflow/tfjs";
import { describeBackend, initBackend } from "@vitkd/backend";
import {
  disableNativeKernels,
  dnnlConvChoices,
  enableNativeKernels,
  loadNativeBlas,
  openDnnl,
} from "@vitkd/backend/native";

const PATHS = [
  "wasm",
  "sgemm",
  "direct",
  "onednn",
  "onednn-2t",
  "onednn-1t",
] as const;
type Path = typeof PATHS[number];
const OPS = ["forward", "input grad", "filter grad"] as const;
type Op = typeof OPS[number];

const { args, fail } = parseTaskArgs({
  command: "deno task bench:conv",
  summary:
    `oneDNN (FFI) against the sgemm-over-taps convolutions and pure wasm: ms per
call of ResNet-8's and RedNet-8's conv shapes, forward and both gradients,
alternating the paths within each round.`,
  flags: {
    batch: { arg: "N", default: "64", help: "batch size" },
    rounds: { arg: "N", default: "3", help: "rounds over every case" },
    seconds: {
      arg: "S",
      default: "0.4",
      help: "seconds per path, case and round",
    },
    paths: {
      arg: "LIST",
      default: PATHS.join(","),
      help: `paths to time, of ${PATHS.join(", ")}`,
    },
  },
});

const batch = Number(args.batch);
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
if (!Number.isInteger(batch) || batch <= 0) fail(`--batch: "${args.batch}"`);
if (!Number.isInteger(rounds) || rounds <= 0) {
  fail(`--rounds: "${args.rounds}"`);
}
if (!(seconds > 0)) fail(`--seconds: "${args.seconds}"`);
const paths = args.paths.split(",").filter(Boolean) as Path[];
for (const p of paths) {
  if (!PATHS.includes(p)) fail(`--paths: unknown path "${p}"`);
}

/** One convolution: input [h, w, c], filter [k, k, c, outC], stride. */
interface Shape {
  h: number;
  c: number;
  k: number;
  outC: number;
  stride: number;
}

// ResNet-8 (stem, stages at 32, 16 and 8 pixels, strided entries and their
// 1x1 shortcuts) and RedNet-8's 1x1 convolutions.
const SHAPES: Shape[] = [
  { h: 32, c: 3, k: 3, outC: 16, stride: 1 },
  { h: 32, c: 16, k: 3, outC: 16, stride: 1 },
  { h: 32, c: 16, k: 3, outC: 32, stride: 2 },
  { h: 16, c: 32, k: 3, outC: 32, stride: 1 },
  { h: 16, c: 32, k: 3, outC: 64, stride: 2 },
  { h: 8, c: 64, k: 3, outC: 64, stride: 1 },
  { h: 32, c: 16, k: 1, outC: 32, stride: 2 },
  { h: 16, c: 32, k: 1, outC: 64, stride: 2 },
  { h: 16, c: 32, k: 1, outC: 32, stride: 1 },
];

const label = (s: Shape) =>
  `[${batch},${s.h},${s.h},${s.c}] ${s.k}x${s.k}x${s.c}x${s.outC} s${s.stride}`;

const info = await initBackend({ backend: "wasm", native: "off" });
const { blas, status } = loadNativeBlas();
// The kernels' own thread counts, then two and one for every kind.
const dnnls: Partial<Record<Path, ReturnType<typeof openDnnl>>> = {};
if (paths.includes("onednn")) dnnls.onednn = openDnnl();
if (paths.includes("onednn-2t")) {
  dnnls["onednn-2t"] = openDnnl({ threads: 2, filterGradientThreads: 2 });
}
if (paths.includes("onednn-1t")) {
  dnnls["onednn-1t"] = openDnnl({ threads: 1, filterGradientThreads: 1 });
}

const stockConv2D = tf.getKernel("Conv2D", "wasm")!;
const direct = paths.includes("direct") ? await openDirectConv(2) : undefined;

function setConv2D(config: tf.KernelConfig): void {
  tf.unregisterKernel("Conv2D", "wasm");
  tf.registerKernel(config);
}

// Registers the kernels of `path`; false when it cannot run `op`.
function use(path: Path, op: Op): boolean {
  disableNativeKernels();
  if (tf.getKernel("Conv2D", "wasm") !== stockConv2D) setConv2D(stockConv2D);
  if (path === "wasm") return true;
  if (path === "direct") {
    if (typeof direct !== "object" || op !== "forward") return false;
    setConv2D(direct);
    return true;
  }
  if (path === "sgemm") {
    if (!blas) return false;
    enableNativeKernels(blas);
    return true;
  }
  const dnnl = dnnls[path]?.dnnl;
  if (!dnnl) return false;
  enableNativeKernels(blas, undefined, { dnnl });
  return true;
}

interface Case {
  shape: Shape;
  x: tf.Tensor4D;
  filter: tf.Tensor4D;
  dy: tf.Tensor4D;
}

function makeCase(shape: Shape): Case {
  const x = tf.randomNormal([batch, shape.h, shape.h, shape.c]) as tf.Tensor4D;
  const filter = tf.randomNormal(
    [shape.k, shape.k, shape.c, shape.outC],
  ) as tf.Tensor4D;
  const out = Math.ceil(shape.h / shape.stride);
  const dy = tf.randomNormal([batch, out, out, shape.outC]) as tf.Tensor4D;
  return { shape, x, filter, dy };
}

function call(c: Case, op: Op): tf.Tensor {
  const common = { strides: c.shape.stride, pad: "same", dataFormat: "NHWC" };
  const engine = tf.engine();
  if (op === "forward") {
    return engine.runKernel("Conv2D", { x: c.x, filter: c.filter }, {
      ...common,
      dilations: 1,
    }) as tf.Tensor;
  }
  if (op === "input grad") {
    return engine.runKernel(
      "Conv2DBackpropInput",
      { dy: c.dy, filter: c.filter },
      { ...common, inputShape: c.x.shape },
    ) as tf.Tensor;
  }
  return engine.runKernel(
    "Conv2DBackpropFilter",
    { x: c.x, dy: c.dy },
    { ...common, filterShape: c.filter.shape },
  ) as tf.Tensor;
}

// Mean ms per call over `seconds` (at least 3 calls) after one warm-up.
function time(c: Case, op: Op): number {
  call(c, op).dispose();
  let count = 0;
  const start = performance.now();
  while (count < 3 || performance.now() - start < seconds * 1000) {
    call(c, op).dispose();
    count++;
  }
  return (performance.now() - start) / count;
}

console.log(machineLine());
console.log(`backend: ${describeBackend(info)}`);
console.log(
  status.available
    ? `native BLAS: ${status.library}, ${status.threads} threads${
      blas?.helperThread ? " + a helper thread" : ""
    }`
    : `native BLAS unavailable: ${status.reason}`,
);
if (direct !== undefined) {
  console.log(
    typeof direct === "string"
      ? `direct unavailable: ${direct}`
      : "direct: docs/measurements/direct_conv.c, 2 OpenMP threads, forward only",
  );
}
for (const [path, opened] of Object.entries(dnnls)) {
  const s = opened.status;
  console.log(
    s.available
      ? `${path}: ${s.library} ${s.version}, ${s.threads} threads, ${s.filterGradientThreads} for filter gradients`
      : `${path} unavailable: ${s.reason}`,
  );
}
console.log(
  `batch ${batch}, ${rounds} rounds, each path timed >= ${seconds} s per case and round\n`,
);

const cases = SHAPES.map(makeCase);
// The comparator must compute the same convolution as the stock kernel.
if (typeof direct === "object") {
  for (const c of cases) {
    use("wasm", "forward");
    const expected = call(c, "forward");
    use("direct", "forward");
    const actual = call(c, "forward");
    const scale = Math.max(1, tf.max(tf.abs(expected)).dataSync()[0]);
    const worst = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0];
    tf.dispose([expected, actual]);
    if (!(worst <= 1e-4 * scale)) {
      throw new Error(
        `direct conv differs from wasm on ${label(c.shape)}: ${worst}`,
      );
    }
  }
  console.log("direct conv matches wasm's Conv2D on every case (1e-4)\n");
}
// ms[case label][op][path] = one figure per round
const ms: Record<string, Record<string, Record<string, number[]>>> = {};
const loads: string[] = [];
for (let round = 0; round < rounds; round++) {
  loads.push(loadAverage());
  console.log(`round ${round + 1}, load ${loads.at(-1)}`);
  for (const c of cases) {
    for (const op of OPS) {
      for (const path of paths) {
        if (!use(path, op)) continue;
        const figure = time(c, op);
        ((ms[label(c.shape)] ??= {})[op] ??= {})[path] ??= [];
        ms[label(c.shape)][op][path].push(figure);
      }
    }
  }
}
use("wasm", "forward");
loads.push(loadAverage());
for (const c of cases) tf.dispose([c.x, c.filter, c.dy]);

const median = (values: number[] | undefined) => {
  if (!values?.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const cell = (v: number) => (Number.isNaN(v) ? "-" : v.toFixed(2));
console.log(
  `\nms per call, median of ${rounds} rounds (load ${loads.join(" -> ")}):`,
);
console.log(
  `| case | op | ${paths.join(" | ")} | sgemm / onednn |\n|---|---|${
    paths.map(() => "--:").join("|")
  }|--:|`,
);
for (const [name, byOp] of Object.entries(ms)) {
  for (const op of OPS) {
    const row = paths.map((p) => median(byOp[op]?.[p]));
    const ratio = median(byOp[op]?.sgemm) / median(byOp[op]?.onednn);
    console.log(
      `| ${name} | ${op} | ${row.map(cell).join(" | ")} | ${
        Number.isNaN(ratio) ? "-" : ratio.toFixed(2)
      } |`,
    );
  }
}
const made = Object.values(dnnls).find((opened) => opened.dnnl)?.dnnl;
if (made) {
  console.log(
    "\noneDNN's implementations (kind,n,h,w,c,outC,kh,kw,stride,...):",
  );
  for (const [key, impl] of dnnlConvChoices(made)) {
    console.log(`  ${key}: ${impl}`);
  }
}
