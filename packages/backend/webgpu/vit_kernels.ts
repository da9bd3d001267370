// The fused ViT kernels (fused/*.ts) on WebGPU: layer norm, softmax, GELU
// and the attention's token/head layouts, one or two dispatches each where
// tfjs's composed forms take 4 to 15. Same names and contracts as the wasm
// kernels, so the models and the gradients (fused/ops.ts) are shared.
import type * as tf from "@tensorflow/tfjs";
import { LAYER_NORM, LAYER_NORM_GRAD } from "../fused/layer_norm_kernels.ts";
import {
  GELU,
  GELU_GRAD,
  SOFTMAX,
  SOFTMAX_GRAD,
} from "../fused/softmax_gelu_kernels.ts";
import {
  HEADS_TO_TOKENS,
  PAD_TOKENS,
  positiveInteger,
  SLICE_TOKENS,
  tokenRange,
  TOKENS_TO_HEADS,
} from "../fused/token_kernels.ts";
import { AS_ERF } from "../native/loops.ts";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";

const WORKGROUP = 256;
const MAX_WORKGROUPS = 4096;
const groupsFor = (threads: number) =>
  Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(threads / WORKGROUP)));

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** WGSL storage declarations: inputs read-only, then outputs read-write. */
function bindings(inputs: string[], outputs: string[]): string {
  return [
    ...inputs.map((name, i) =>
      `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`
    ),
    ...outputs.map((name, i) =>
      `@group(0) @binding(${
        inputs.length + i
      }) var<storage, read_write> ${name}: array<f32>;`
    ),
  ].join("\n");
}

/** A shader whose `body` runs once per index `i < info.n` (grid stride). */
function perIndex(
  inputs: string[],
  outputs: string[],
  info: string,
  body: string,
): string {
  return `${bindings(inputs, outputs)}
struct Info { n: u32, ${info} }
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < info.n; i = i + stride) {
${body}
  }
}`;
}

/** Uniform words: u32 for integers, f32 for the listed float fields. */
function words(values: [number, "u" | "f"][]): ArrayBuffer {
  const data = new ArrayBuffer(Math.max(16, values.length * 4));
  const view = new DataView(data);
  values.forEach(([v, kind], i) => {
    if (kind === "u") view.setUint32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return data;
}

function dispatch(
  backend: WebGpuBackendInternals,
  kernel: string,
  key: string,
  code: string,
  tensors: tf.TensorInfo[],
  uniform: ArrayBuffer,
  groups: number,
): void {
  encodeDispatch(
    backend,
    kernel,
    pipelineFor(backend.device, key, code),
    tensors,
    [uniformBuffer(backend, uniform)],
    [groups],
  );
}

function requireFloat(kernel: string, named: Record<string, tf.TensorInfo>) {
  for (const [name, t] of Object.entries(named)) {
    if (t === undefined || t.dtype !== "float32") {
      throw new Error(`${kernel}: ${name} must be float32, got ${t?.dtype}`);
    }
  }
}

function rowsOf(kernel: string, x: tf.TensorInfo, width: number): number {
  if (x.shape.length < 1) throw new Error(`${kernel}: x must have rank >= 1`);
  return width === 0 ? 0 : sizeOf(x.shape) / width;
}

type KernelFunc = (
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
  backend: WebGpuBackendInternals,
) => tf.TensorInfo | tf.TensorInfo[];

function webgpuConfig(kernelName: string, fn: KernelFunc): tf.KernelConfig {
  return {
    kernelName,
    backendName: "webgpu",
    kernelFunc: ({ inputs, attrs, backend }) =>
      fn(
        inputs as Record<string, tf.TensorInfo>,
        (attrs ?? {}) as Record<string, unknown>,
        backend as unknown as WebGpuBackendInternals,
      ),
  };
}

// ---- layer norm -----------------------------------------------------------

// One thread per row; two passes (mean, then squared deviations) in float32.
const LAYER_NORM_SHADER = perIndex(
  ["x", "gamma", "beta"],
  ["y", "mean", "inverse"],
  "width: u32, epsilon: f32",
  `    let base = i * info.width;
    var s = 0.0;
    for (var j = 0u; j < info.width; j = j + 1u) { s = s + x[base + j]; }
    let mu = s / f32(info.width);
    var q = 0.0;
    for (var j = 0u; j < info.width; j = j + 1u) {
      let d = x[base + j] - mu;
      q = q + d * d;
    }
    let inv = 1.0 / sqrt(q / f32(info.width) + info.epsilon);
    for (var j = 0u; j < info.width; j = j + 1u) {
      y[base + j] = (x[base + j] - mu) * inv * gamma[j] + beta[j];
    }
    mean[i] = mu;
    inverse[i] = inv;`,
);

const layerNormWebGpu = webgpuConfig(LAYER_NORM, (inputs, attrs, backend) => {
  const { x, gamma, beta } = inputs;
  requireFloat(LAYER_NORM, { x, gamma, beta });
  const width = x.shape[x.shape.length - 1];
  if (sizeOf(gamma.shape) !== width || sizeOf(beta.shape) !== width) {
    throw new Error(
      `${LAYER_NORM}: gamma and beta need ${width} values for x of shape [${x.shape}], got [${gamma.shape}] and [${beta.shape}]`,
    );
  }
  const rows = rowsOf(LAYER_NORM, x, width);
  const y = backend.makeTensorInfo([...x.shape], "float32");
  const mean = backend.makeTensorInfo(x.shape.slice(0, -1), "float32");
  const inverse = backend.makeTensorInfo(x.shape.slice(0, -1), "float32");
  if (rows > 0) {
    dispatch(
      backend,
      "VitkdLayerNorm",
      "vitkd-ln",
      LAYER_NORM_SHADER,
      [x, gamma, beta, y, mean, inverse],
      words([[rows, "u"], [width, "u"], [attrs.epsilon as number, "f"]]),
      groupsFor(rows),
    );
  }
  return [y, mean, inverse];
});

const LAYER_NORM_DX_SHADER = perIndex(
  ["dy", "x", "gamma", "mean", "inverse"],
  ["dx"],
  "width: u32",
  `    let base = i * info.width;
    let mu = mean[i];
    let inv = inverse[i];
    var sumG = 0.0;
    var sumGX = 0.0;
    for (var j = 0u; j < info.width; j = j + 1u) {
      let g = dy[base + j] * gamma[j];
      sumG = sumG + g;
      sumGX = sumGX + g * (x[base + j] - mu) * inv;
    }
    let meanG = sumG / f32(info.width);
    let meanGX = sumGX / f32(info.width);
    for (var j = 0u; j < info.width; j = j + 1u) {
      let xhat = (x[base + j] - mu) * inv;
      dx[base + j] = (dy[base + j] * gamma[j] - meanG - xhat * meanGX) * inv;
    }`,
);

// One workgroup per column: dgamma = Σ dy·xhat, dbeta = Σ dy over rows.
const LAYER_NORM_PARAMS_SHADER = `${
  bindings(["dy", "x", "mean", "inverse"], ["dGamma", "dBeta"])
}
struct Info { rows: u32, width: u32 }
@group(0) @binding(6) var<uniform> info: Info;
var<workgroup> accG: array<f32, ${WORKGROUP}>;
var<workgroup> accB: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) group: vec3<u32>) {
  let j = group.x;
  var g = 0.0;
  var b = 0.0;
  for (var r = t; r < info.rows; r = r + ${WORKGROUP}u) {
    let d = dy[r * info.width + j];
    g = g + d * (x[r * info.width + j] - mean[r]) * inverse[r];
    b = b + d;
  }
  accG[t] = g;
  accB[t] = b;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (t < k) {
      accG[t] = accG[t] + accG[t + k];
      accB[t] = accB[t] + accB[t + k];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    dGamma[j] = accG[0];
    dBeta[j] = accB[0];
  }
}`;

const layerNormGradWebGpu = webgpuConfig(
  LAYER_NORM_GRAD,
  (inputs, _attrs, backend) => {
    const { dy, x, gamma, mean, inverse } = inputs;
    requireFloat(LAYER_NORM_GRAD, { dy, x, gamma, mean, inverse });
    if (dy.shape.join(",") !== x.shape.join(",")) {
      throw new Error(
        `${LAYER_NORM_GRAD}: dy [${dy.shape}] and x [${x.shape}] differ in shape`,
      );
    }
    const width = x.shape[x.shape.length - 1];
    const rows = rowsOf(LAYER_NORM_GRAD, x, width);
    if (sizeOf(mean.shape) !== rows || sizeOf(inverse.shape) !== rows) {
      throw new Error(
        `${LAYER_NORM_GRAD}: mean and inverse need ${rows} values, got [${mean.shape}] and [${inverse.shape}]`,
      );
    }
    const dx = backend.makeTensorInfo([...x.shape], "float32");
    const dGamma = backend.makeTensorInfo([...gamma.shape], "float32");
    const dBeta = backend.makeTensorInfo([...gamma.shape], "float32");
    if (rows === 0 || width === 0) return [dx, dGamma, dBeta];
    dispatch(
      backend,
      "VitkdLayerNormGradInput",
      "vitkd-ln-dx",
      LAYER_NORM_DX_SHADER,
      [dy, x, gamma, mean, inverse, dx],
      words([[rows, "u"], [width, "u"]]),
      groupsFor(rows),
    );
    dispatch(
      backend,
      "VitkdLayerNormGradParams",
      "vitkd-ln-params",
      LAYER_NORM_PARAMS_SHADER,
      [dy, x, mean, inverse, dGamma, dBeta],
      words([[rows, "u"], [width, "u"]]),
      width,
    );
    return [dx, dGamma, dBeta];
  },
);

// ---- softmax --------------------------------------------------------------

const SOFTMAX_SHADER = perIndex(
  ["x"],
  ["y"],
  "width: u32",
  `    let base = i * info.width;
    var m = x[base];
    for (var j = 1u; j < info.width; j = j + 1u) { m = max(m, x[base + j]); }
    var s = 0.0;
    for (var j = 0u; j < info.width; j = j + 1u) {
      let e = exp(x[base + j] - m);
      y[base + j] = e;
      s = s + e;
    }
    for (var j = 0u; j < info.width; j = j + 1u) {
      y[base + j] = y[base + j] / s;
    }`,
);

const softmaxWebGpu = webgpuConfig(SOFTMAX, (inputs, _attrs, backend) => {
  const { x } = inputs;
  requireFloat(SOFTMAX, { x });
  const width = x.shape[x.shape.length - 1] ?? 1;
  const rows = rowsOf(SOFTMAX, x, width);
  const y = backend.makeTensorInfo([...x.shape], "float32");
  if (rows > 0) {
    dispatch(
      backend,
      "VitkdSoftmax",
      "vitkd-softmax",
      SOFTMAX_SHADER,
      [x, y],
      words([[rows, "u"], [width, "u"]]),
      groupsFor(rows),
    );
  }
  return y;
});

const SOFTMAX_GRAD_SHADER = perIndex(
  ["dy", "y"],
  ["dx"],
  "width: u32",
  `    let base = i * info.width;
    var dot = 0.0;
    for (var j = 0u; j < info.width; j = j + 1u) {
      dot = dot + dy[base + j] * y[base + j];
    }
    for (var j = 0u; j < info.width; j = j + 1u) {
      dx[base + j] = y[base + j] * (dy[base + j] - dot);
    }`,
);

const softmaxGradWebGpu = webgpuConfig(
  SOFTMAX_GRAD,
  (inputs, _attrs, backend) => {
    const { dy, y } = inputs;
    requireFloat(SOFTMAX_GRAD, { dy, y });
    if (dy.shape.join(",") !== y.shape.join(",")) {
      throw new Error(
        `${SOFTMAX_GRAD}: dy [${dy.shape}] and y [${y.shape}] differ in shape`,
      );
    }
    const width = y.shape[y.shape.length - 1] ?? 1;
    const rows = rowsOf(SOFTMAX_GRAD, y, width);
    const dx = backend.makeTensorInfo([...y.shape], "float32");
    if (rows > 0) {
      dispatch(
        backend,
        "VitkdSoftmaxGrad",
        "vitkd-softmax-grad",
        SOFTMAX_GRAD_SHADER,
        [dy, y, dx],
        words([[rows, "u"], [width, "u"]]),
        groupsFor(rows),
      );
    }
    return dx;
  },
);

// ---- GELU -----------------------------------------------------------------

const [P, A1, A2, A3, A4, A5] = AS_ERF;
// erf by A&S 7.1.26 (tfjs's formula), sharing exp(-x²/2) with the slope.
const geluBody = (withSlope: boolean) => `
    let v = x[i];
    let e = exp(-0.5 * v * v);
    let t = 1.0 / (1.0 + ${P} * abs(v) * ${Math.SQRT1_2});
    let erfAbs = 1.0 - ((((${A5} * t + ${A4}) * t + ${A3}) * t + ${A2}) * t + ${A1}) * t * e;
    let cdf = 0.5 + erfAbs * select(0.5, -0.5, v < 0.0);
    y[i] = v * cdf;
    ${
  withSlope ? `slope[i] = cdf + v * e * ${1 / Math.sqrt(2 * Math.PI)};` : ""
}`;

const geluWebGpu = webgpuConfig(GELU, (inputs, attrs, backend) => {
  const { x } = inputs;
  requireFloat(GELU, { x });
  const withSlope = attrs.withSlope !== false;
  const size = sizeOf(x.shape);
  const y = backend.makeTensorInfo([...x.shape], "float32");
  const slope = withSlope
    ? backend.makeTensorInfo([...x.shape], "float32")
    : undefined;
  if (size > 0) {
    dispatch(
      backend,
      "VitkdGelu",
      `vitkd-gelu-${withSlope}`,
      perIndex(
        ["x"],
        withSlope ? ["y", "slope"] : ["y"],
        "pad: u32",
        geluBody(withSlope),
      ),
      slope ? [x, y, slope] : [x, y],
      words([[size, "u"]]),
      groupsFor(size),
    );
  }
  return slope ? [y, slope] : [y];
});

const GELU_GRAD_SHADER = perIndex(
  ["dy", "slope"],
  ["dx"],
  "pad: u32",
  "    dx[i] = dy[i] * slope[i];",
);

const geluGradWebGpu = webgpuConfig(GELU_GRAD, (inputs, _attrs, backend) => {
  const { dy, slope } = inputs;
  requireFloat(GELU_GRAD, { dy, slope });
  if (dy.shape.join(",") !== slope.shape.join(",")) {
    throw new Error(
      `${GELU_GRAD}: dy [${dy.shape}] and slope [${slope.shape}] differ in shape`,
    );
  }
  const size = sizeOf(dy.shape);
  const dx = backend.makeTensorInfo([...dy.shape], "float32");
  if (size > 0) {
    dispatch(
      backend,
      "VitkdGeluGrad",
      "vitkd-gelu-grad",
      GELU_GRAD_SHADER,
      [dy, slope, dx],
      words([[size, "u"]]),
      groupsFor(size),
    );
  }
  return dx;
});

// ---- tokens and heads -----------------------------------------------------

function rank3(kernel: string, name: string, t: tf.TensorInfo) {
  requireFloat(kernel, { [name]: t });
  if (t.shape.length !== 3) {
    throw new Error(`${kernel}: ${name} must have rank 3, got [${t.shape}]`);
  }
  return t.shape as [number, number, number];
}

// Devices get 8 storage buffers per stage by default: the token tensor and
// at most 7 parts.
const MAX_PARTS = 7;

// Index o runs over every element of every part: part p, head row
// (b·H + h), token l, element e of [N·H, L, D/H]; the token tensor is
// [N, L, P·D] with part p's head h at columns p·D + h·hd.
const moveHeadsBody = (parts: number, toHeads: boolean) => {
  const partNames = Array.from({ length: parts }, (_, p) => `part${p}`);
  const cases = partNames.map((name, p) =>
    toHeads
      ? `if (p == ${p}u) { ${name}[r] = tokens[src] * s; }`
      : `if (p == ${p}u) { tokens[src] = ${name}[r] * s; }`
  ).join(" else ");
  return `    let per = info.rows * info.length * info.hd;
    let p = i / per;
    let r = i % per;
    let row = r / (info.length * info.hd);
    let rem = r % (info.length * info.hd);
    let l = rem / info.hd;
    let e = rem % info.hd;
    let b = row / info.heads;
    let h = row % info.heads;
    let dim = info.heads * info.hd;
    let src = (b * info.length + l) * ${parts}u * dim + p * dim + h * info.hd + e;
    let s = select(1.0, info.scale, p == 0u);
    ${cases}`;
};

const moveHeadsShader = (parts: number, toHeads: boolean) => {
  const partNames = Array.from({ length: parts }, (_, p) => `part${p}`);
  return perIndex(
    toHeads ? ["tokens"] : partNames,
    toHeads ? partNames : ["tokens"],
    "rows: u32, length: u32, hd: u32, heads: u32, scale: f32",
    moveHeadsBody(parts, toHeads),
  );
};

const tokensToHeadsWebGpu = webgpuConfig(
  TOKENS_TO_HEADS,
  (inputs, attrs, backend) => {
    const [n, length, width] = rank3(TOKENS_TO_HEADS, "x", inputs.x);
    const heads = positiveInteger(TOKENS_TO_HEADS, "heads", attrs.heads);
    const parts = positiveInteger(TOKENS_TO_HEADS, "parts", attrs.parts);
    const scale = (attrs.scale as number | undefined) ?? 1;
    if (width % (parts * heads) !== 0 || parts > MAX_PARTS) {
      throw new Error(
        `${TOKENS_TO_HEADS}: width ${width} of x [${inputs.x.shape}] does not divide into ${parts} parts (at most ${MAX_PARTS}) of ${heads} heads`,
      );
    }
    const hd = width / (parts * heads);
    const outs = Array.from(
      { length: parts },
      () => backend.makeTensorInfo([n * heads, length, hd], "float32"),
    );
    const total = parts * n * heads * length * hd;
    if (total > 0) {
      dispatch(
        backend,
        "VitkdTokensToHeads",
        `vitkd-to-heads-${parts}`,
        moveHeadsShader(parts, true),
        [inputs.x, ...outs],
        words([
          [total, "u"],
          [n * heads, "u"],
          [length, "u"],
          [hd, "u"],
          [heads, "u"],
          [scale, "f"],
        ]),
        groupsFor(total),
      );
    }
    return outs;
  },
);

const headsToTokensWebGpu = webgpuConfig(
  HEADS_TO_TOKENS,
  (inputs, attrs, backend) => {
    const heads = positiveInteger(HEADS_TO_TOKENS, "heads", attrs.heads);
    const scale = (attrs.scale as number | undefined) ?? 1;
    const parts: tf.TensorInfo[] = [];
    while (inputs[`part${parts.length}`]) {
      parts.push(inputs[`part${parts.length}`]);
    }
    if (parts.length === 0 || parts.length > MAX_PARTS) {
      throw new Error(
        `${HEADS_TO_TOKENS}: needs inputs part0, part1, ... (1 to ${MAX_PARTS}), got ${parts.length}`,
      );
    }
    const [rowsH, length, hd] = rank3(HEADS_TO_TOKENS, "part0", parts[0]);
    parts.forEach((t, i) => {
      const shape = rank3(HEADS_TO_TOKENS, `part${i}`, t);
      if (shape.some((d, j) => d !== parts[0].shape[j])) {
        throw new Error(
          `${HEADS_TO_TOKENS}: part${i} of shape [${shape}] differs from part0 [${
            parts[0].shape
          }]`,
        );
      }
    });
    if (rowsH % heads !== 0) {
      throw new Error(
        `${HEADS_TO_TOKENS}: ${rowsH} rows do not divide into ${heads} heads`,
      );
    }
    const n = rowsH / heads;
    const out = backend.makeTensorInfo(
      [n, length, parts.length * heads * hd],
      "float32",
    );
    const total = parts.length * rowsH * length * hd;
    if (total > 0) {
      dispatch(
        backend,
        "VitkdHeadsToTokens",
        `vitkd-to-tokens-${parts.length}`,
        moveHeadsShader(parts.length, false),
        [...parts, out],
        words([
          [total, "u"],
          [rowsH, "u"],
          [length, "u"],
          [hd, "u"],
          [heads, "u"],
          [scale, "f"],
        ]),
        groupsFor(total),
      );
    }
    return out;
  },
);

const SLICE_TOKENS_SHADER = perIndex(
  ["x"],
  ["y"],
  "length: u32, size: u32, dim: u32, begin: u32",
  `    let b = i / (info.size * info.dim);
    let rem = i % (info.size * info.dim);
    let l = rem / info.dim;
    let d = rem % info.dim;
    y[i] = x[(b * info.length + info.begin + l) * info.dim + d];`,
);

const sliceTokensWebGpu = webgpuConfig(
  SLICE_TOKENS,
  (inputs, attrs, backend) => {
    const [n, length, dim] = rank3(SLICE_TOKENS, "x", inputs.x);
    const [begin, size] = tokenRange(
      SLICE_TOKENS,
      attrs.begin,
      attrs.size,
      length,
    );
    const out = backend.makeTensorInfo([n, size, dim], "float32");
    const total = n * size * dim;
    if (total > 0) {
      dispatch(
        backend,
        "VitkdSliceTokens",
        "vitkd-slice-tokens",
        SLICE_TOKENS_SHADER,
        [inputs.x, out],
        words([
          [total, "u"],
          [length, "u"],
          [size, "u"],
          [dim, "u"],
          [begin, "u"],
        ]),
        groupsFor(total),
      );
    }
    return out;
  },
);

const PAD_TOKENS_SHADER = perIndex(
  ["x"],
  ["y"],
  "length: u32, size: u32, dim: u32, begin: u32",
  `    let b = i / (info.length * info.dim);
    let rem = i % (info.length * info.dim);
    let l = rem / info.dim;
    let d = rem % info.dim;
    var v = 0.0;
    if (l >= info.begin && l < info.begin + info.size) {
      v = x[(b * info.size + l - info.begin) * info.dim + d];
    }
    y[i] = v;`,
);

const padTokensWebGpu = webgpuConfig(PAD_TOKENS, (inputs, attrs, backend) => {
  const [n, size, dim] = rank3(PAD_TOKENS, "x", inputs.x);
  const length = positiveInteger(PAD_TOKENS, "length", attrs.length);
  const [begin] = tokenRange(PAD_TOKENS, attrs.begin, size, length);
  const out = backend.makeTensorInfo([n, length, dim], "float32");
  const total = n * length * dim;
  if (total > 0) {
    dispatch(
      backend,
      "VitkdPadTokens",
      "vitkd-pad-tokens",
      PAD_TOKENS_SHADER,
      [inputs.x, out],
      words([
        [total, "u"],
        [length, "u"],
        [size, "u"],
        [dim, "u"],
        [begin, "u"],
      ]),
      groupsFor(total),
    );
  }
  return out;
});

/** The fused ViT kernels for the webgpu backend. */
export const VIT_KERNELS_WEBGPU: readonly tf.KernelConfig[] = [
  layerNormWebGpu,
  layerNormGradWebGpu,
  softmaxWebGpu,
  softmaxGradWebGpu,
  geluWebGpu,
  geluGradWebGpu,
  tokensToHeadsWebGpu,
  headsToTokensWebGpu,
  sliceTokensWebGpu,
  padTokensWebGpu,
];
