// oneDNN convolution primitives on the wasm heap: descriptors made once per
// shape (NHWC activations, tfjs' HWIO filters), memory
// objects whose data handles point into the heap at each call (no copies;
// only the filter, or the filter gradient, is reordered to and from the
// blocked layout the library's kernels want). Private to the oneDNN kernels
// (dnnl_conv2d.ts, dnnl_fused_conv2d.ts, dnnl_conv2d_backprop_input.ts,
// dnnl_conv2d_backprop_filter.ts), through _dnnl_kernel.ts' cache.
import {
  checkStatus,
  type Dnnl,
  type DnnlSymbols,
  outPointer,
} from "./dnnl.ts";
import type { ConvPlan } from "./_conv_plan.ts";
import { heapPointer } from "./heap.ts";
import {
  dims,
  DNNL_ARG as ARG,
  execArgs,
  execute,
  heapMemory,
  implName,
  libraryMemory,
  memoryDesc,
  OP_DESC_BYTES,
  Owned,
  pointerOf,
  primitive,
  primitiveDesc,
  setHandle,
} from "./_dnnl_objects.ts";

/** Which of the three convolution primitives. */
export type DnnlConvKind = "forward" | "backwardData" | "backwardWeights";

/** An activation oneDNN applies after the bias, as a post-op. */
export interface DnnlActivation {
  /** tfjs' name: relu, relu6, elu, sigmoid or leakyrelu. */
  name: string;
  /** The leaky ReLU slope. */
  alpha?: number;
}

// dnnl_types.h values (oneDNN 2.x).
const TAG_ANY = 1;
const TAG_A = 2;
const TAG_NHWC = 20; // acdb: dims [n, c, h, w] laid out n, h, w, c
const TAG_HWIO = 30; // dims [o, i, h, w] laid out h, w, i, o
const FORWARD_TRAINING = 64;
const CONVOLUTION_DIRECT = 1;
const BINARY_ADD = 0x1fff0;
const QUERY = {
  weights: 131,
  diffWeights: 132,
} as const;
const ELTWISE = {
  relu: 31,
  elu: 63,
  logistic: 175,
  clip: 255,
} as const;

/** The post-op for a tfjs activation, or undefined when oneDNN has none. */
export function eltwiseFor(
  activation: DnnlActivation,
): { alg: number; alpha: number; beta: number } | undefined {
  switch (activation.name) {
    case "relu":
      return { alg: ELTWISE.relu, alpha: 0, beta: 0 };
    case "leakyrelu":
      return { alg: ELTWISE.relu, alpha: activation.alpha ?? 0.2, beta: 0 };
    case "relu6":
      return { alg: ELTWISE.clip, alpha: 0, beta: 6 };
    case "elu":
      return { alg: ELTWISE.elu, alpha: 1, beta: 0 };
    case "sigmoid":
      return { alg: ELTWISE.logistic, alpha: 0, beta: 0 };
    default:
      return undefined;
  }
}

/** Byte offsets into the wasm heap of one call's tensors. */
export interface DnnlConvOffsets {
  /** The input (forward, filter gradient) or the input gradient (data gradient). */
  activation: number;
  /** The filter, or the filter gradient, `[kh, kw, c, outC]`. */
  filter: number;
  /** The output (forward) or the output gradient `dy`. */
  output: number;
  /** The per-channel bias (forward with a bias only). */
  bias?: number;
  /** The tensor added before the activation (forward with a residual only). */
  residual?: number;
}

/** A convolution primitive made for one shape, ready to run on heap offsets. */
export interface DnnlConvPrimitive {
  /** Which primitive. */
  readonly kind: DnnlConvKind;
  /** The threads it was made for, and must run with. */
  readonly threads: number;
  /** The implementation oneDNN chose (e.g. `jit:avx512_core`). */
  readonly impl: string;
  /** Runs the primitive (and the filter reorder) on one call's tensors. */
  run(heap: ArrayBufferLike, offsets: DnnlConvOffsets): void;
  /** Frees the library's objects. */
  destroy(): void;
}

// The padding oneDNN wants on the far side: what makes
// (in - effectiveFilter + near + far) / stride + 1 equal the output size.
function farPad(
  size: number,
  out: number,
  filter: number,
  dilation: number,
  stride: number,
  near: number,
): number {
  const effective = (filter - 1) * dilation + 1;
  return Math.max(0, (out - 1) * stride + effective - size - near);
}

interface Layouts {
  activation: Uint8Array<ArrayBuffer>;
  filterAny: Uint8Array<ArrayBuffer>;
  filterUser: Uint8Array<ArrayBuffer>;
  output: Uint8Array<ArrayBuffer>;
  bias: Uint8Array<ArrayBuffer>;
  strides: BigInt64Array;
  dilates: BigInt64Array;
  padL: BigInt64Array;
  padR: BigInt64Array;
}

function layouts(s: DnnlSymbols, plan: ConvPlan): Layouts {
  return {
    activation: memoryDesc(s, [plan.n, plan.c, plan.h, plan.w], TAG_NHWC),
    filterAny: memoryDesc(s, [plan.outC, plan.c, plan.kh, plan.kw], TAG_ANY),
    filterUser: memoryDesc(
      s,
      [plan.outC, plan.c, plan.kh, plan.kw],
      TAG_HWIO,
    ),
    output: memoryDesc(
      s,
      [plan.n, plan.outC, plan.outH, plan.outW],
      TAG_NHWC,
    ),
    bias: memoryDesc(s, [plan.outC], TAG_A),
    strides: dims([plan.stride, plan.stride]),
    // oneDNN counts dilation from 0 (no gaps).
    dilates: dims([plan.dilationH - 1, plan.dilationW - 1]),
    padL: dims([plan.top, plan.left]),
    padR: dims([
      farPad(plan.h, plan.outH, plan.kh, plan.dilationH, plan.stride, plan.top),
      farPad(
        plan.w,
        plan.outW,
        plan.kw,
        plan.dilationW,
        plan.stride,
        plan.left,
      ),
    ]),
  };
}

function forwardDesc(
  s: DnnlSymbols,
  l: Layouts,
  withBias: boolean,
): Uint8Array<ArrayBuffer> {
  const desc = new Uint8Array(OP_DESC_BYTES);
  checkStatus(
    s.dnnl_dilated_convolution_forward_desc_init(
      desc,
      FORWARD_TRAINING,
      CONVOLUTION_DIRECT,
      l.activation,
      l.filterAny,
      withBias ? l.bias : null,
      l.output,
      l.strides,
      l.dilates,
      l.padL,
      l.padR,
    ),
    "dnnl_dilated_convolution_forward_desc_init",
  );
  return desc;
}

/**
 * The filter as the primitive wants it: the user's HWIO memory when the
 * primitive takes HWIO, else a library-owned blocked copy and the reorder
 * between the two (`toPrimitive`: HWIO into the copy; else the copy back).
 */
function filterMemory(
  dnnl: Dnnl,
  owned: Owned,
  pd: Deno.PointerValue,
  query: number,
  user: Deno.PointerValue,
  userMd: Uint8Array<ArrayBuffer>,
  toPrimitive: boolean,
): { memory: Deno.PointerValue; reorder?: () => void } {
  const s = dnnl.symbols;
  const wanted = s.dnnl_primitive_desc_query_md(pd, query, 0);
  if (wanted === null) throw new Error("oneDNN: no filter memory descriptor");
  if (s.dnnl_memory_desc_equal(wanted, pointerOf(userMd)) === 1) {
    return { memory: user };
  }
  const blocked = libraryMemory(dnnl, owned, wanted);
  const cell = new BigUint64Array(1);
  const [from, to] = toPrimitive
    ? [pointerOf(userMd), wanted]
    : [wanted, pointerOf(userMd)];
  // Made and run on one thread: a filter is a few thousand floats, and
  // waking OpenMP's second thread for it cost about 0.1 ms a call.
  const reorder = dnnl.withThreads(1, () => {
    checkStatus(
      s.dnnl_reorder_primitive_desc_create(
        cell,
        from,
        dnnl.engine,
        to,
        dnnl.engine,
        null,
      ),
      "dnnl_reorder_primitive_desc_create",
    );
    const reorderPd = outPointer(cell);
    owned.descs.push(reorderPd);
    return primitive(dnnl, owned, reorderPd);
  });
  const args = execArgs(
    toPrimitive
      ? [[ARG.src, user], [ARG.dst, blocked]]
      : [[ARG.src, blocked], [ARG.dst, user]],
  );
  return {
    memory: blocked,
    reorder: () =>
      dnnl.withThreads(1, () =>
        checkStatus(
          s.dnnl_primitive_execute(reorder, dnnl.stream, 2, args),
          "dnnl_primitive_execute (filter reorder)",
        )),
  };
}

/**
 * Primitive attributes with, as post-ops, the addition of a tensor laid out
 * as `residual` (when given) and then `activation` (null: neither).
 */
export function activationAttr(
  s: DnnlSymbols,
  activation: DnnlActivation | undefined,
  residual?: Uint8Array<ArrayBuffer>,
): Deno.PointerValue {
  if (!activation && !residual) return null;
  const eltwise = activation && eltwiseFor(activation);
  if (activation && !eltwise) {
    throw new Error(`oneDNN has no post-op for "${activation.name}"`);
  }
  const cell = new BigUint64Array(1);
  checkStatus(s.dnnl_post_ops_create(cell), "dnnl_post_ops_create");
  const ops = outPointer(cell);
  try {
    if (residual) {
      checkStatus(
        s.dnnl_post_ops_append_binary(ops, BINARY_ADD, residual),
        "dnnl_post_ops_append_binary",
      );
    }
    if (eltwise) {
      checkStatus(
        s.dnnl_post_ops_append_eltwise(
          ops,
          1,
          eltwise.alg,
          eltwise.alpha,
          eltwise.beta,
        ),
        "dnnl_post_ops_append_eltwise",
      );
    }
    checkStatus(
      s.dnnl_primitive_attr_create(cell),
      "dnnl_primitive_attr_create",
    );
    const attr = outPointer(cell);
    const status = s.dnnl_primitive_attr_set_post_ops(attr, ops);
    if (status !== 0) s.dnnl_primitive_attr_destroy(attr);
    checkStatus(status, "dnnl_primitive_attr_set_post_ops");
    return attr;
  } finally {
    s.dnnl_post_ops_destroy(ops);
  }
}

/** How a forward primitive finishes: with a bias and an activation or not. */
export interface DnnlForwardOptions {
  /** Whether a per-channel bias is added. */
  bias: boolean;
  /** Whether a tensor of the output's shape is added after the bias. */
  residual?: boolean;
  /** The activation applied after them, as a post-op. */
  activation?: DnnlActivation;
}

// The exec-argument ids of each kind's three tensors, and the query for the
// filter layout it chose.
const ROLES: Record<
  DnnlConvKind,
  { activation: number; filter: number; output: number; query: number }
> = {
  forward: {
    activation: ARG.src,
    filter: ARG.weights,
    output: ARG.dst,
    query: QUERY.weights,
  },
  backwardData: {
    activation: ARG.diffSrc,
    filter: ARG.weights,
    output: ARG.diffDst,
    query: QUERY.weights,
  },
  backwardWeights: {
    activation: ARG.src,
    filter: ARG.diffWeights,
    output: ARG.diffDst,
    query: QUERY.diffWeights,
  },
};

// The op descriptor of a gradient; the library's argument order differs.
function gradientDesc(
  s: DnnlSymbols,
  kind: "backwardData" | "backwardWeights",
  l: Layouts,
): Uint8Array<ArrayBuffer> {
  const desc = new Uint8Array(OP_DESC_BYTES);
  const geometry = [l.strides, l.dilates, l.padL, l.padR] as const;
  const status = kind === "backwardData"
    ? s.dnnl_dilated_convolution_backward_data_desc_init(
      desc,
      CONVOLUTION_DIRECT,
      l.activation,
      l.filterAny,
      l.output,
      ...geometry,
    )
    : s.dnnl_dilated_convolution_backward_weights_desc_init(
      desc,
      CONVOLUTION_DIRECT,
      l.activation,
      l.filterAny,
      null,
      l.output,
      ...geometry,
    );
  checkStatus(status, `dnnl_dilated_convolution_${kind}_desc_init`);
  return desc;
}

/**
 * Makes the primitive of `kind` for `plan`, for `threads` threads (call it
 * inside `dnnl.withThreads(threads, ...)`); throws when oneDNN refuses.
 */
export function buildPrimitive(
  dnnl: Dnnl,
  kind: DnnlConvKind,
  plan: ConvPlan,
  options: DnnlForwardOptions,
  threads: number,
): DnnlConvPrimitive {
  const s = dnnl.symbols;
  const owned = new Owned(s);
  try {
    const l = layouts(s, plan);
    const forwardBias = kind === "forward" && options.bias;
    const residual = kind === "forward" && options.residual === true;
    const attr = kind === "forward"
      ? activationAttr(
        s,
        options.activation,
        residual ? l.output : undefined,
      )
      : null;
    let forward: Deno.PointerValue;
    try {
      forward = primitiveDesc(
        dnnl,
        owned,
        forwardDesc(s, l, forwardBias),
        attr,
        null,
        "forward",
      );
    } finally {
      if (attr !== null) s.dnnl_primitive_attr_destroy(attr);
    }
    // A gradient's descriptor takes the forward one as its hint.
    const pd = kind === "forward" ? forward : primitiveDesc(
      dnnl,
      owned,
      gradientDesc(s, kind, l),
      null,
      forward,
      kind,
    );
    const activation = heapMemory(dnnl, owned, l.activation);
    const output = heapMemory(dnnl, owned, l.output);
    const filter = heapMemory(dnnl, owned, l.filterUser);
    const bias = forwardBias ? heapMemory(dnnl, owned, l.bias) : undefined;
    const added = residual ? heapMemory(dnnl, owned, l.output) : undefined;
    const roles = ROLES[kind];
    const filterIsOutput = kind === "backwardWeights";
    const placed = filterMemory(
      dnnl,
      owned,
      pd,
      roles.query,
      filter,
      l.filterUser,
      !filterIsOutput,
    );
    const args: [number, Deno.PointerValue][] = [
      [roles.activation, activation],
      [roles.filter, placed.memory],
      [roles.output, output],
    ];
    if (bias !== undefined) args.push([ARG.bias, bias]);
    if (added !== undefined) args.push([ARG.postOp0Src1, added]);
    const conv = primitive(dnnl, owned, pd);
    const packed = execArgs(args);
    return {
      kind,
      threads,
      impl: implName(s, pd),
      run(heap, offsets) {
        const base = heapPointer(heap);
        setHandle(s, activation, base, offsets.activation);
        setHandle(s, filter, base, offsets.filter);
        setHandle(s, output, base, offsets.output);
        if (bias !== undefined) {
          if (offsets.bias === undefined) {
            throw new Error("oneDNN forward: the primitive expects a bias");
          }
          setHandle(s, bias, base, offsets.bias);
        }
        if (added !== undefined) {
          if (offsets.residual === undefined) {
            throw new Error("oneDNN forward: the primitive expects a residual");
          }
          setHandle(s, added, base, offsets.residual);
        }
        if (!filterIsOutput) placed.reorder?.();
        execute(dnnl, conv, packed, kind);
        if (filterIsOutput) placed.reorder?.();
        checkStatus(s.dnnl_stream_wait(dnnl.stream), "dnnl_stream_wait");
      },
      destroy: () => owned.destroy(),
    };
  } catch (error) {
    owned.destroy();
    throw error;
  }
}
