// The attention's token/head layout kernels on WebGPU (fused/token_kernels.ts
// on wasm): tokens to heads and back, token slices and padding, one
// dispatch each.
import {
  headParts,
  HEADS_TO_TOKENS,
  PAD_TOKENS,
  positiveInteger,
  rank3,
  SLICE_TOKENS,
  tokenRange,
  TOKENS_TO_HEADS,
} from "../fused/token_kernels.ts";
import {
  dispatch,
  groupsFor,
  perIndex,
  webgpuConfig,
  words,
} from "./_vit_dispatch.ts";

// ---- tokens and heads -----------------------------------------------------

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

export const tokensToHeadsWebGpu = webgpuConfig(
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

export const headsToTokensWebGpu = webgpuConfig(
  HEADS_TO_TOKENS,
  (inputs, attrs, backend) => {
    const heads = positiveInteger(HEADS_TO_TOKENS, "heads", attrs.heads);
    const scale = (attrs.scale as number | undefined) ?? 1;
    const { parts, n, length, headDim: hd } = headParts(inputs, heads);
    if (parts.length > MAX_PARTS) {
      throw new Error(
        `${HEADS_TO_TOKENS}: needs inputs part0, part1, ... (1 to ${MAX_PARTS}), got ${parts.length}`,
      );
    }
    const rowsH = n * heads;
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

export const sliceTokensWebGpu = webgpuConfig(
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

export const padTokensWebGpu = webgpuConfig(
  PAD_TOKENS,
  (inputs, attrs, backend) => {
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
  },
);
