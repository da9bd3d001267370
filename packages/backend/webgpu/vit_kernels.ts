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
import { AS_ERF } from "../native/loops.ts";
import {
  bindings,
  dispatch,
  groupsFor,
  perIndex,
  requireFloat,
  rowsOf,
  sizeOf,
  webgpuConfig,
  words,
  WORKGROUP,
} from "./_vit_dispatch.ts";
import {
  headsToTokensWebGpu,
  padTokensWebGpu,
  sliceTokensWebGpu,
  tokensToHeadsWebGpu,
} from "./vit_token_kernels.ts";

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
