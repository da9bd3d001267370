// oneDNN's exact (erf) GELU and its slope, its softmax and its layer norm
// (and gradient) over the last axis, and the attention's head layout
// changes, on the wasm heap: one primitive per shape, made on first use and
// kept, whose memory objects point into the heap at each call (no copies).
// Vectorised and on oneDNN's threads, where the fused ViT kernels' heap
// loops are scalar JavaScript. Private to the fused kernels and register.ts.
import { checkStatus, type Dnnl, outPointer } from "./dnnl.ts";
import { activationAttr } from "./_dnnl_conv.ts";
import { heapPointer } from "./heap.ts";
import {
  DNNL_ARG as ARG,
  execArgs,
  execute,
  heapMemory,
  type HeapPrimitive,
  heapPrimitive,
  implName,
  memoryDesc,
  MIN_SHARED_VALUES,
  OP_DESC_BYTES,
  Owned,
  perLibrary,
  pointerOf,
  primitive,
  PrimitiveCache,
  primitiveDesc,
  runOnHeap,
  setHandle,
  stridedMemoryDesc,
} from "./_dnnl_objects.ts";

// dnnl_types.h values (oneDNN 2.x).
const TAG_A = 2;
const TAG_AB = 3;
const TAG_ABCD = 5;
const FORWARD_INFERENCE = 96;
const FORWARD_TRAINING = 64;
const ELTWISE_GELU_ERF = 0x30;
const ELTWISE_RELU_USE_DST = 0x100;
const BINARY_ADD = 0x1fff0;
const USE_SCALE_AND_SHIFT = 0x8 | 0x10;

/**
 * A row operation made for one shape. Its offsets per call: src and dst;
 * for `geluSlope` x, dy and dx; for `reluMask` and `layerNorm` those of
 * {@linkcode DnnlRowKind}.
 */
export type DnnlRowOp = HeapPrimitive;

/**
 * Which operation, over the last axis: `gelu` (forward), `geluSlope`
 * (GELU's backward: offsets x, dy, dx), `reluMask` (ReLU's backward from
 * its output: offsets y, dy, dx), `add` and `addRelu` (a + b, relu(a + b):
 * offsets a, b, out), `softmax` or `layerNorm` (offsets x,
 * y, gamma, beta, mean, variance). Layer norm's gradient is a heap loop:
 * oneDNN 2.6 has only its reference kernel for it.
 */
export type DnnlRowKind =
  | "gelu"
  | "geluSlope"
  | "reluMask"
  | "add"
  | "addRelu"
  | "softmax"
  | "layerNorm";

function opDesc(
  dnnl: Dnnl,
  kind: DnnlRowKind,
  md: Uint8Array<ArrayBuffer>,
  rows: number,
  epsilon: number,
): Uint8Array<ArrayBuffer> {
  const s = dnnl.symbols;
  const desc = new Uint8Array(OP_DESC_BYTES);
  let status: number;
  if (kind === "gelu") {
    status = s.dnnl_eltwise_forward_desc_init(
      desc,
      FORWARD_INFERENCE,
      ELTWISE_GELU_ERF,
      md,
      0,
      0,
    );
  } else if (kind === "geluSlope") {
    status = s.dnnl_eltwise_backward_desc_init(
      desc,
      ELTWISE_GELU_ERF,
      md,
      md,
      0,
      0,
    );
  } else if (kind === "reluMask") {
    status = s.dnnl_eltwise_backward_desc_init(
      desc,
      ELTWISE_RELU_USE_DST,
      md,
      md,
      0,
      0,
    );
  } else if (kind === "add" || kind === "addRelu") {
    status = s.dnnl_binary_desc_init(desc, BINARY_ADD, md, md, md);
  } else if (kind === "softmax") {
    // the training forward: its output is what the gradient reads
    status = s.dnnl_softmax_forward_desc_init(desc, FORWARD_TRAINING, md, 1);
  } else {
    // the training forward, so that the statistics are outputs
    status = s.dnnl_layer_normalization_forward_desc_init(
      desc,
      FORWARD_TRAINING,
      md,
      memoryDesc(s, [rows], TAG_A),
      epsilon,
      USE_SCALE_AND_SHIFT,
    );
  }
  checkStatus(status, `oneDNN ${kind} descriptor`);
  return desc;
}

// The training forward an eltwise backward takes as its hint.
function eltwiseTrainingDesc(
  dnnl: Dnnl,
  alg: number,
  md: Uint8Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  const desc = new Uint8Array(OP_DESC_BYTES);
  checkStatus(
    dnnl.symbols.dnnl_eltwise_forward_desc_init(
      desc,
      FORWARD_TRAINING,
      alg,
      md,
      0,
      0,
    ),
    "oneDNN eltwise training descriptor",
  );
  return desc;
}

function build(
  dnnl: Dnnl,
  kind: DnnlRowKind,
  rows: number,
  width: number,
  epsilon: number,
  threads: number,
): DnnlRowOp {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const md = memoryDesc(s, [rows, width], TAG_AB);
    // a backward primitive takes its forward's descriptor as a hint
    const eltwise =
      { geluSlope: ELTWISE_GELU_ERF, reluMask: ELTWISE_RELU_USE_DST }[
        kind as string
      ];
    const hint = eltwise !== undefined
      ? primitiveDesc(
        dnnl,
        owned,
        eltwiseTrainingDesc(dnnl, eltwise, md),
        null,
        null,
        kind,
      )
      : null;
    const attr = kind === "addRelu"
      ? activationAttr(s, { name: "relu" })
      : null;
    let pd: Deno.PointerValue;
    try {
      pd = primitiveDesc(
        dnnl,
        owned,
        opDesc(dnnl, kind, md, rows, epsilon),
        attr,
        hint,
        kind,
      );
    } finally {
      if (attr !== null) s.dnnl_primitive_attr_destroy(attr);
    }
    const channel = memoryDesc(s, [width], TAG_A);
    const row = memoryDesc(s, [rows], TAG_A);
    const roles: [number, Uint8Array<ArrayBuffer>][] = {
      gelu: [[ARG.src, md], [ARG.dst, md]],
      softmax: [[ARG.src, md], [ARG.dst, md]],
      geluSlope: [[ARG.src, md], [ARG.diffDst, md], [ARG.diffSrc, md]],
      reluMask: [[ARG.dst, md], [ARG.diffDst, md], [ARG.diffSrc, md]],
      add: [[ARG.src, md], [ARG.src1, md], [ARG.dst, md]],
      addRelu: [[ARG.src, md], [ARG.src1, md], [ARG.dst, md]],
      layerNorm: [
        [ARG.src, md],
        [ARG.dst, md],
        [ARG.scale, channel],
        [ARG.shift, channel],
        [ARG.mean, row],
        [ARG.variance, row],
      ],
    }[kind] as [number, Uint8Array<ArrayBuffer>][];
    return heapPrimitive(dnnl, owned, pd, roles, kind, threads);
  } catch (error) {
    owned.destroy();
    throw error;
  }
}

/** The geometry of a move between the token and the head layouts. */
export interface HeadsLayout {
  /** Images. */
  n: number;
  /** Tokens per image. */
  length: number;
  /** Attention heads. */
  heads: number;
  /** Values per head. */
  headDim: number;
  /** Parts side by side in a token (3 for q, k, v). */
  parts: number;
  /** Tokens to heads (true) or back. */
  toHeads: boolean;
  /** The factor part 0 is multiplied by. */
  scale: number;
}

// One reorder per part between the token layout [N, L, P*D] (seen as
// [N, H, L, hd] with strides) and a head layout [N*H, L, hd]; part 0's
// carries the scale. Offsets: tokens, then each part.
function buildMoveHeads(dnnl: Dnnl, g: HeadsLayout): DnnlRowOp {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const dim = g.heads * g.headDim;
    const tokens = stridedMemoryDesc(
      s,
      [g.n, g.heads, g.length, g.headDim],
      [g.length * g.parts * dim, g.headDim, g.parts * dim, 1],
    );
    const heads = memoryDesc(s, [g.n, g.heads, g.length, g.headDim], TAG_ABCD);
    const [from, to] = g.toHeads ? [tokens, heads] : [heads, tokens];
    const tokenMemory = heapMemory(dnnl, owned, tokens);
    const partMemory = heapMemory(dnnl, owned, heads);
    const reorders = [g.scale, 1].map((scale) => {
      const attr = new BigUint64Array(1);
      checkStatus(
        s.dnnl_primitive_attr_create(attr),
        "dnnl_primitive_attr_create",
      );
      const attrPointer = outPointer(attr);
      try {
        checkStatus(
          s.dnnl_primitive_attr_set_output_scales(
            attrPointer,
            1n,
            0,
            new Float32Array([scale]),
          ),
          "dnnl_primitive_attr_set_output_scales",
        );
        const cell = new BigUint64Array(1);
        checkStatus(
          s.dnnl_reorder_primitive_desc_create(
            cell,
            pointerOf(from),
            dnnl.engine,
            pointerOf(to),
            dnnl.engine,
            attrPointer,
          ),
          "dnnl_reorder_primitive_desc_create",
        );
        const pd = outPointer(cell);
        owned.descs.push(pd);
        return { pd, op: primitive(dnnl, owned, pd) };
      } finally {
        s.dnnl_primitive_attr_destroy(attrPointer);
      }
    });
    const args = execArgs(
      g.toHeads
        ? [[ARG.src, tokenMemory], [ARG.dst, partMemory]]
        : [[ARG.src, partMemory], [ARG.dst, tokenMemory]],
    );
    return {
      impl: implName(s, reorders[0].pd),
      threads: 1,
      run(heap, offsets) {
        if (offsets.length !== 1 + g.parts) {
          throw new Error(
            `oneDNN heads: ${
              1 + g.parts
            } offsets expected, got ${offsets.length}`,
          );
        }
        const base = heapPointer(heap);
        for (let p = 0; p < g.parts; p++) {
          setHandle(s, tokenMemory, base, offsets[0] + 4 * p * dim);
          setHandle(s, partMemory, base, offsets[1 + p]);
          execute(dnnl, reorders[p === 0 ? 0 : 1].op, args, "heads reorder");
        }
        checkStatus(s.dnnl_stream_wait(dnnl.stream), "dnnl_stream_wait");
      },
      destroy: () => owned.destroy(),
    };
  } catch (error) {
    owned.destroy();
    throw error;
  }
}

/**
 * The row operations made so far, one per kind and shape (at most
 * `capacity`, the oldest freed first); a shape oneDNN refused is remembered
 * with the reason.
 */
export class DnnlRowCache {
  readonly #made: PrimitiveCache<DnnlRowOp>;

  /** Builds on `dnnl`, keeping at most `capacity` primitives. */
  constructor(readonly dnnl: Dnnl, readonly capacity = 64) {
    this.#made = new PrimitiveCache(dnnl, capacity);
  }

  /** The operation for `rows` x `width` floats, or why oneDNN cannot run it. */
  get(
    kind: DnnlRowKind,
    rows: number,
    width: number,
    epsilon = 0,
  ): DnnlRowOp | string {
    const key = kind === "layerNorm"
      ? `${kind},${rows},${width},${epsilon}`
      : `${kind},${rows},${width}`;
    const threads = rows * width < MIN_SHARED_VALUES ? 1 : this.dnnl.threads;
    return this.#made.get(
      key,
      threads,
      () => build(this.dnnl, kind, rows, width, epsilon, threads),
    );
  }

  /**
   * Runs `kind` over `rows` x `width` floats of `heap` at the byte
   * `offsets` ({@linkcode DnnlRowOp.run}); returns why not (the caller runs
   * its own loop) when oneDNN refused the shape or failed.
   */
  run(
    kind: DnnlRowKind,
    rows: number,
    width: number,
    heap: ArrayBufferLike,
    offsets: readonly number[],
    epsilon = 0,
  ): string | undefined {
    return runOnHeap(
      this.dnnl,
      this.get(kind, rows, width, epsilon),
      heap,
      offsets,
    );
  }

  /**
   * Moves between the token and head layouts (offsets: tokens, then each
   * part) as one reorder per part; returns why not when oneDNN refused.
   */
  moveHeads(
    layout: HeadsLayout,
    heap: ArrayBufferLike,
    offsets: readonly number[],
  ): string | undefined {
    const g = layout;
    const op = this.#made.get(
      `heads,${g.n},${g.length},${g.heads},${g.headDim},${g.parts},${g.toHeads},${g.scale}`,
      1,
      () => buildMoveHeads(this.dnnl, layout),
    );
    return runOnHeap(this.dnnl, op, heap, offsets);
  }

  /** Each cached key with the implementation chosen or the reason refused. */
  report(): [string, string][] {
    return this.#made.report();
  }
}

const rowCache = perLibrary((dnnl) => new DnnlRowCache(dnnl));
let active: Dnnl | undefined;

/** Sets the library the row operations use (register.ts: while its kernels are on). */
export function setRowsDnnl(dnnl: Dnnl | undefined): void {
  active = dnnl;
}

/** The library the oneDNN kernels run on while they are enabled. */
export function activeDnnl(): Dnnl | undefined {
  return active;
}

/**
 * oneDNN's row operations for the fused ViT kernels while the oneDNN
 * kernels are enabled; undefined otherwise (the kernels then run their own
 * heap loops).
 */
export function activeDnnlRows(): DnnlRowCache | undefined {
  return active ? rowCache(active) : undefined;
}
