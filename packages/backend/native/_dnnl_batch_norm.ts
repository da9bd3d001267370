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

/**
 * Which primitive: the forward or the backward, each plain or with the ReLU
 * fused (the fused backward reads the mask the fused forward left in its
 * workspace).
 */
export type DnnlBatchNormKind =
  | "forward"
  | "forwardRelu"
  | "backward"
  | "backwardRelu";

/** A batch norm primitive and the workspace bytes it reads or writes (0: none). */
export interface BatchNormPrimitive extends HeapPrimitive {
  /** Bytes of the fused ReLU's mask (one bit a value); 0 without the ReLU. */
  readonly workspaceBytes: number;
}

const isBackward = (kind: DnnlBatchNormKind) =>
  kind === "backward" || kind === "backwardRelu";
const hasRelu = (kind: DnnlBatchNormKind) =>
  kind === "forwardRelu" || kind === "backwardRelu";

function opDesc(
  dnnl: Dnnl,
  kind: DnnlBatchNormKind,
  md: Uint8Array<ArrayBuffer>,
  epsilon: number,
): Uint8Array<ArrayBuffer> {
  const s = dnnl.symbols;
  const desc = new Uint8Array(OP_DESC_BYTES);
  const flags = USE_SCALE_AND_SHIFT | (hasRelu(kind) ? FUSE_NORM_RELU : 0);
  const status = isBackward(kind)
    ? s.dnnl_batch_normalization_backward_desc_init(
      desc,
      BACKWARD,
      md,
      md,
      epsilon,
      flags,
    )
    : s.dnnl_batch_normalization_forward_desc_init(
      desc,
      FORWARD_TRAINING,
      md,
      epsilon,
      flags,
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
): BatchNormPrimitive {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const md = memoryDesc(s, dims, TAG_NHWC);
    const channel = memoryDesc(s, [dims[1]], TAG_A);
    // a backward takes its forward's descriptor as its hint
    const hint = isBackward(kind)
      ? primitiveDesc(
        dnnl,
        owned,
        opDesc(
          dnnl,
          kind === "backwardRelu" ? "forwardRelu" : "forward",
          md,
          epsilon,
        ),
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
    // the ReLU the plain primitives and a ReLU pass or mask.
    const impl = implName(s, pd);
    if (!impl.includes("jit")) {
      throw new Error(`oneDNN batch norm ${kind}: only ${impl}`);
    }
    // The fused ReLU's mask (a bit a value) goes to a heap tensor the
    // forward writes and its gradient reads: the fused backward then skips
    // the separate masking pass over dy and y (0.20 against 0.39 ms for
    // 64x32x32x16 on two cores).
    const roles: [number, Uint8Array<ArrayBuffer> | Deno.PointerObject][] =
      isBackward(kind)
        ? [
          [ARG.src, md],
          [ARG.mean, channel],
          [ARG.variance, channel],
          [ARG.diffDst, md],
          [ARG.scale, channel],
          // 2.6's backward also asks for the shift, which it does not read
          [ARG.shift, channel],
          [ARG.diffSrc, md],
          [ARG.diffScale, channel],
          [ARG.diffShift, channel],
        ]
        : [
          [ARG.src, md],
          [ARG.dst, md],
          [ARG.scale, channel],
          [ARG.shift, channel],
          [ARG.mean, channel],
          [ARG.variance, channel],
        ];
    let workspaceBytes = 0;
    if (hasRelu(kind)) {
      const workspace = s.dnnl_primitive_desc_query_md(
        pd,
        QUERY_WORKSPACE_MD,
        0,
      );
      if (workspace === null) {
        throw new Error(`oneDNN batch norm ${kind}: no workspace descriptor`);
      }
      workspaceBytes = Number(s.dnnl_memory_desc_get_size(workspace));
      roles.push([ARG.workspace, workspace]);
    }
    return {
      ...heapPrimitive(dnnl, owned, pd, roles, `batch norm ${kind}`, threads),
      workspaceBytes,
    };
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
  readonly #made: PrimitiveCache<BatchNormPrimitive>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /**
   * Runs `kind` for x of `shape` on `heap` at the byte `offsets`: for a
   * forward x, y, gamma, beta, mean, variance; for a backward x, mean,
   * variance, dy, gamma, beta, dx, dGamma, dBeta; with the ReLU, then the
   * workspace ({@linkcode workspaceBytes} of them). Returns why not (the
   * caller then runs its own loops) when oneDNN refused the shape or failed.
   */
  run(
    kind: DnnlBatchNormKind,
    shape: readonly number[],
    epsilon: number,
    heap: ArrayBufferLike,
    offsets: readonly number[],
  ): string | undefined {
    return runOnHeap(
      this.dnnl,
      this.#primitive(kind, shape, epsilon),
      heap,
      offsets,
    );
  }

  /**
   * The bytes of the fused ReLU's workspace for x of `shape`, or undefined
   * when oneDNN refused the fused forward or backward (the caller then
   * runs the plain ones and its own ReLU pass and mask).
   */
  workspaceBytes(
    shape: readonly number[],
    epsilon: number,
  ): number | undefined {
    const forward = this.#primitive("forwardRelu", shape, epsilon);
    const backward = this.#primitive("backwardRelu", shape, epsilon);
    return typeof forward === "string" || typeof backward === "string"
      ? undefined
      : forward.workspaceBytes;
  }

  #primitive(
    kind: DnnlBatchNormKind,
    shape: readonly number[],
    epsilon: number,
  ): BatchNormPrimitive | string {
    const dims = batchNormDims(shape);
    const size = dims[0] * dims[1] * dims[2] * dims[3];
    const threads = size < MIN_SHARED_VALUES ? 1 : this.dnnl.threads;
    return this.#made.get(
      `${kind},${dims},${epsilon}`,
      threads,
      () => build(this.dnnl, kind, dims, epsilon, threads),
    );
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
