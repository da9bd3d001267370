// The filter gradient of a 2-D convolution as a tiled implicit GEMM with
// split-K. tfjs-webgpu's own runs one thread per filter element, each
// looping over batch × height × width: for a 3x3x3x16 stem that is 432
// threads (7 workgroups) with 65,536 steps each at batch 64.
import * as tf from "@tensorflow/tfjs";
import type { WebGpuBackendInternals } from "./_backend.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";
import { reducesInOneDispatch } from "./small_output_matmul.ts";

const TILE = 16;
// Enough workgroups to fill a large GPU (132 SMs, a few each).
const TARGET_WORKGROUPS = 512;
// Each split covers at least this many rows of the reduction.
const MIN_ROWS_PER_SPLIT = 256;

const INFO = `struct Info {
  m: u32, kk: u32, co: u32, rowsPerSplit: u32,
  outH: u32, outW: u32, inH: u32, inW: u32,
  ci: u32, kw: u32, strideH: u32, strideW: u32,
  padTop: i32, padLeft: i32, splits: u32, pad0: u32,
}`;

// dW[k, o] = Σ_m A[m, k] · B[m, o] over this workgroup's split of m, where
// m = (n, oh, ow), k = (kh, kw, ci), A = x at (n, oh·s + kh - pad, ...) (0
// outside) and B = dy[n, oh, ow, o]. A 16x16 tile of dW per workgroup, 16
// rows of m at a time through workgroup memory.
const PARTIAL = `${INFO}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> info: Info;
var<workgroup> tileA: array<array<f32, ${TILE}>, ${TILE}>;
var<workgroup> tileB: array<array<f32, ${TILE}>, ${TILE}>;

fn loadA(m: u32, k: u32) -> f32 {
  if (m >= info.m || k >= info.kk) { return 0.0; }
  let ow = m % info.outW;
  let oh = (m / info.outW) % info.outH;
  let n = m / (info.outW * info.outH);
  let ci = k % info.ci;
  let kw = (k / info.ci) % info.kw;
  let kh = k / (info.ci * info.kw);
  let row = i32(oh * info.strideH + kh) - info.padTop;
  let col = i32(ow * info.strideW + kw) - info.padLeft;
  if (row < 0 || row >= i32(info.inH) || col < 0 || col >= i32(info.inW)) {
    return 0.0;
  }
  return x[((n * info.inH + u32(row)) * info.inW + u32(col)) * info.ci + ci];
}

fn loadB(m: u32, o: u32) -> f32 {
  if (m >= info.m || o >= info.co) { return 0.0; }
  return dy[m * info.co + o];
}

@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(local_invocation_id) local: vec3<u32>,
        @builtin(workgroup_id) group: vec3<u32>) {
  let o = group.x * ${TILE}u + local.x;
  let k = group.y * ${TILE}u + local.y;
  let split = group.z;
  let first = split * info.rowsPerSplit;
  let last = min(info.m, first + info.rowsPerSplit);
  var sum = 0.0;
  for (var m0 = first; m0 < last; m0 = m0 + ${TILE}u) {
    // thread (x, y) loads A[m0 + x, tile k + y] and B[m0 + y, tile o + x]
    let am = m0 + local.x;
    tileA[local.x][local.y] = select(0.0, loadA(am, group.y * ${TILE}u + local.y), am < last);
    let bm = m0 + local.y;
    tileB[local.y][local.x] = select(0.0, loadB(bm, group.x * ${TILE}u + local.x), bm < last);
    workgroupBarrier();
    for (var t = 0u; t < ${TILE}u; t = t + 1u) {
      sum = sum + tileA[t][local.y] * tileB[t][local.x];
    }
    workgroupBarrier();
  }
  if (k < info.kk && o < info.co) {
    partial[(split * info.kk + k) * info.co + o] = sum;
  }
}`;

const REDUCE = `${INFO}
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> info: Info;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let size = info.kk * info.co;
  let stride = groups.x * 256u;
  for (var i = id.x; i < size; i = i + stride) {
    var sum = 0.0;
    for (var s = 0u; s < info.splits; s = s + 1u) {
      sum = sum + partial[s * size + i];
    }
    dw[i] = sum;
  }
}`;

interface Attrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
}

/**
 * `Conv2DBackpropFilter` on WebGPU as a tiled split-K GEMM: one dispatch
 * when the tiles alone fill the GPU, else partial sums over splits of the
 * batch × output positions and one dispatch that adds them. A 1x1,
 * stride-1 filter of at most 1,024 values over 2,000 pixels or more is one
 * reduction dispatch instead (small_output_matmul.ts). NCHW and float16
 * fall back to `stock`.
 */
export function conv2dBackpropFilterConfig(
  stock: tf.KernelConfig,
): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
      const attrs = args.attrs as unknown as Attrs;
      if (
        attrs.dataFormat === "NCHW" || x.dtype !== "float32" ||
        dy.dtype !== "float32"
      ) {
        return stock.kernelFunc(args);
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        attrs.filterShape,
        attrs.strides,
        1,
        attrs.pad,
        attrs.dimRoundingMode,
        false,
        "channelsLast",
      );
      const backend = args.backend as unknown as WebGpuBackendInternals;
      const [kh, kw, ci, co] = attrs.filterShape;
      const m = info.batchSize * info.outHeight * info.outWidth;
      const kk = kh * kw * ci;
      const pointwise = kh === 1 && kw === 1 && info.strideHeight === 1 &&
        info.strideWidth === 1 && info.padInfo.top === 0 &&
        info.padInfo.left === 0;
      if (pointwise && reducesInOneDispatch([m, ci], [m, co], true, false)) {
        // a 1x1 convolution's filter gradient is xᵀ · dy over the pixels:
        // with few filter values, one reduction dispatch (the matmul's)
        // instead of the tiles and their sum
        return pointwiseFilterGradient(args, x, dy, m, [kh, kw, ci, co]);
      }
      const dw = backend.makeTensorInfo([kh, kw, ci, co], "float32");
      if (kk * co === 0) return dw;
      const tiles = Math.ceil(co / TILE) * Math.ceil(kk / TILE);
      const splits = Math.max(
        1,
        Math.min(
          Math.ceil(TARGET_WORKGROUPS / tiles),
          Math.floor(m / MIN_ROWS_PER_SPLIT),
          65535,
        ),
      );
      const rowsPerSplit = Math.ceil(m / splits / TILE) * TILE;
      const words = new Uint32Array(16);
      words.set([
        m,
        kk,
        co,
        rowsPerSplit,
        info.outHeight,
        info.outWidth,
        info.inHeight,
        info.inWidth,
        ci,
        kw,
        info.strideHeight,
        info.strideWidth,
      ]);
      new Int32Array(words.buffer, 48, 2).set([
        info.padInfo.top,
        info.padInfo.left,
      ]);
      words[14] = splits;
      const target = splits === 1
        ? dw
        : backend.makeTensorInfo([splits, kk, co], "float32");
      encodeDispatch(
        backend,
        "VitkdConv2DFilterGrad",
        pipelineFor(backend.device, "vitkd-conv-dw", PARTIAL),
        [x, dy, target],
        [uniformBuffer(backend, words.buffer)],
        [Math.ceil(co / TILE), Math.ceil(kk / TILE), splits],
      );
      if (splits > 1) {
        encodeDispatch(
          backend,
          "VitkdConv2DFilterGradSum",
          pipelineFor(backend.device, "vitkd-conv-dw-sum", REDUCE),
          [target, dw],
          [uniformBuffer(backend, words.buffer)],
          [Math.min(4096, Math.ceil((kk * co) / 256))],
        );
        // the queue owns it until submitted: tfjs releases its buffer then
        tf.backend().disposeData(target.dataId);
      }
      return dw;
    },
  };
}

/** The 1x1 filter gradient `[1, 1, ci, co]` as the product xᵀ · dy. */
function pointwiseFilterGradient(
  args: Parameters<tf.KernelFunc>[0],
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  m: number,
  filterShape: number[],
): tf.TensorInfo {
  const [, , ci, co] = filterShape;
  // views of the same buffers: the matmul reshapes its inputs itself
  const a = { ...x, shape: [m, ci] };
  const b = { ...dy, shape: [m, co] };
  const product = tf.getKernel("BatchMatMul", "webgpu")!.kernelFunc({
    inputs: { a, b },
    attrs: { transposeA: true, transposeB: false },
    backend: args.backend,
  }) as tf.TensorInfo;
  return { ...product, shape: filterShape };
}
