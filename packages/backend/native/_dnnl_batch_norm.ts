// oneDNN's training batch norm (forward with the ReLU fused or not, and
// its backward) over every axis but the last, on the wasm heap: one
// primitive per shape, made on first use and kept, whose memory objects
// point into the heap at each call. The library's jit kernels are
// vectorised and on its threads, where the JavaScript loops they replace
// summed one float at a time on one thread. Private to the batch norm
// kernels (cnn_kernels/batch_norm.ts).
import { checkStatus, type Dnnl } from "./dnnl.ts";
import {
  DNNL_ARG as ARG,
  type HeapPrimitive,
  heapPrimitive,
  implName,
  libraryMemory,
  memoryDesc,
  MIN_SHARED_VALUES,
  OP_DESC_BYTES,
  Owned,
  perLibrary,
  PrimitiveCache,
  primitiveDesc,
  runOnHeap,
} from "./_dnnl_objects.ts";
import { activeDnnl } from "./_dnnl_rows.ts";

// dnnl_types.h values (oneDNN 2.x).
const TAG_A = 2;
const TAG_NHWC = 20; // acdb: dims [n, c, h, w] laid out n, h, w, c
const FORWARD_TRAINING = 64;
const BACKWARD = 128;
const FUSE_NORM_RELU = 0x4;
const USE_SCALE_AND_SHIFT = 0x8 | 0x10;
const QUERY_WORKSPACE_MD = 135;

/**
 * x's shape `[..., c]` as oneDNN's `[n, c, h, w]` with channels last in
 * memory: `[1, c, rows, 1]`. The jit kernels split and vectorise the
 * spatial rows well; as `[rows, c, 1, 1]` the same data ran 1.5-5x slower
 * (5x with 4 channels), and an image batch's own `[n, c, h, w]` no faster.
 */
export function batchNormDims(shape: readonly number[]): number[] {
  const c = shape[shape.length - 1];
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i];
  return [1, c, rows, 1];
}

/** Which primitive: the forward (ReLU fused or not) or the backward. */
export type DnnlBatchNormKind = "forward" | "forwardRelu" | "backward";

function opDesc(
  dnnl: Dnnl,
  kind: DnnlBatchNormKind,
  md: Uint8Array<ArrayBuffer>,
  epsilon: number,
): Uint8Array<ArrayBuffer> {
  const s = dnnl.symbols;
  const desc = new Uint8Array(OP_DESC_BYTES);
  const status = kind === "backward"
    ? s.dnnl_batch_normalization_backward_desc_init(
      desc,
      BACKWARD,
      md,
      md,
      epsilon,
      USE_SCALE_AND_SHIFT,
    )
    : s.dnnl_batch_normalization_forward_desc_init(
      desc,
      FORWARD_TRAINING,
      md,
      epsilon,
      USE_SCALE_AND_SHIFT | (kind === "forwardRelu" ? FUSE_NORM_RELU : 0),
    );
  checkStatus(status, `oneDNN batch norm ${kind} descriptor`);
  return desc;
}

function build(
  dnnl: Dnnl,
  kind: DnnlBatchNormKind,
  dims: number[],
  epsilon: number,
  threads: number,
): HeapPrimitive {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const md = memoryDesc(s, dims, TAG_NHWC);
    const channel = memoryDesc(s, [dims[1]], TAG_A);
    // the backward takes a forward's descriptor as its hint
    const hint = kind === "backward"
      ? primitiveDesc(
        dnnl,
        owned,
        opDesc(dnnl, "forward", md, epsilon),
        null,
        null,
        kind,
      )
      : null;
    const pd = primitiveDesc(
      dnnl,
      owned,
      opDesc(dnnl, kind, md, epsilon),
      null,
      hint,
      `batch norm ${kind}`,
    );
    // Only the jit kernels: the reference one (nspc_bnorm:any, which 2.6
    // picks for odd channel counts, and with 4 channels for the fused ReLU)
    // ran up to 9x slower; refused, the caller runs its own loops, or for
    // the ReLU the plain forward and a ReLU pass.
    const impl = implName(s, pd);
    if (!impl.includes("jit")) {
      throw new Error(`oneDNN batch norm ${kind}: only ${impl}`);
    }
    if (kind === "backward") {
      // 2.6's backward also asks for the shift, which it does not read
      return heapPrimitive(
        dnnl,
        owned,
        pd,
        [
          [ARG.src, md],
          [ARG.mean, channel],
          [ARG.variance, channel],
          [ARG.diffDst, md],
          [ARG.scale, channel],
          [ARG.shift, channel],
          [ARG.diffSrc, md],
          [ARG.diffScale, channel],
          [ARG.diffShift, channel],
        ],
        "batch norm backward",
        threads,
      );
    }
    // The fused ReLU's mask goes to a workspace the library owns: the
    // gradient masks dy from the saved output instead, so it is not kept.
    const fixed: [number, Deno.PointerValue][] = [];
    if (kind === "forwardRelu") {
      const workspace = s.dnnl_primitive_desc_query_md(
        pd,
        QUERY_WORKSPACE_MD,
        0,
      );
      if (workspace === null) {
        throw new Error("oneDNN batch norm: no workspace descriptor");
      }
      fixed.push([
        ARG.workspace,
        libraryMemory(dnnl, owned, workspace),
      ]);
    }
    return heapPrimitive(
      dnnl,
      owned,
      pd,
      [
        [ARG.src, md],
        [ARG.dst, md],
        [ARG.scale, channel],
        [ARG.shift, channel],
        [ARG.mean, channel],
        [ARG.variance, channel],
      ],
      `batch norm ${kind}`,
      threads,
      fixed,
    );
  } catch (error) {
    owned.destroy();
    throw error;
  }
}

/**
 * The batch norm primitives made so far, one per kind, shape and epsilon
 * (at most `capacity`, the oldest freed first); a shape oneDNN refused is
 * remembered with the reason.
 */
export class DnnlBatchNormCache {
  readonly #made: PrimitiveCache<HeapPrimitive>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /**
   * Runs `kind` for x of `shape` on `heap` at the byte `offsets`: for a
   * forward x, y, gamma, beta, mean, variance; for the backward x, mean,
   * variance, dy, gamma, beta, dx, dGamma, dBeta. Returns why not (the
   * caller then runs its own loops) when oneDNN refused the shape or failed.
   */
  run(
    kind: DnnlBatchNormKind,
    shape: readonly number[],
    epsilon: number,
    heap: ArrayBufferLike,
    offsets: readonly number[],
  ): string | undefined {
    const dims = batchNormDims(shape);
    const size = dims[0] * dims[1] * dims[2] * dims[3];
    const threads = size < MIN_SHARED_VALUES ? 1 : this.dnnl.threads;
    const op = this.#made.get(
      `${kind},${dims},${epsilon}`,
      threads,
      () => build(this.dnnl, kind, dims, epsilon, threads),
    );
    return runOnHeap(this.dnnl, op, heap, offsets);
  }

  /** Each cached key with the implementation chosen or the reason refused. */
  report(): [string, string][] {
    return this.#made.report();
  }
}

const batchNormCache = perLibrary((dnnl) => new DnnlBatchNormCache(dnnl));

/**
 * oneDNN's batch norm while the oneDNN kernels are enabled; undefined
 * otherwise (the kernels then run their own loops).
 */
export function activeDnnlBatchNorm(): DnnlBatchNormCache | undefined {
  const dnnl = activeDnnl();
  return dnnl ? batchNormCache(dnnl) : undefined;
}
